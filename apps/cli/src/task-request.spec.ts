import { UsageError } from './output';
import { taskBody } from './task-request';

describe('taskBody', () => {
  it('sends only the name, the module and what was given, so API defaults apply', () => {
    expect(taskBody('add', { inputs: '2,3' }, { file: new Uint8Array([0, 0x61, 0x73, 0x6d]) })).toEqual({ name: 'add', file: 'AGFzbQ==', inputs: [2, 3] });
  });

  it('maps placement options to the snake_case selector, pin and preference', () => {
    const body = taskBody('avg', {
      selector: ['propeller.io/site=a'],
      deviceType: ['esp32', 'rpi'],
      capability: ['sensor'],
      type: ['external'],
      proplet: 'esp32-7',
      preferred: 'external',
      cpu: '500m',
      memory: '64Mi',
      maxAttempts: '2',
    });
    expect(body).toEqual({
      name: 'avg',
      proplet_id: 'esp32-7',
      preferred_proplet_type: 'external',
      proplet_selector: { match_types: ['external'], match_device_types: ['esp32', 'rpi'], match_capabilities: ['sensor'], match_labels: { 'propeller.io/site': 'a' } },
      resource_requirements: { cpu: '500m', memory: '64Mi' },
      max_attempts: 2,
    });
  });

  it('sends WASI arguments and environment', () => {
    expect(taskBody('_start', { arg: ['-v', 'x'], env: ['A=1'], daemon: true })).toEqual({ name: '_start', cli_args: ['-v', 'x'], env: { A: '1' }, daemon: true });
  });

  it('refuses an unknown preference and a module given twice', () => {
    expect(() => taskBody('f', { preferred: 'cloud' })).toThrow(new UsageError('--preferred: "cloud" must be one of k8s, external, any'));
    expect(() => taskBody('f', { imageUrl: 'https://x/y.wasm' }, { file: new Uint8Array([1]) })).toThrow(UsageError);
  });
});
