import { classifyTask, hybridPreference, imagePath, tokens } from './classify';
import { aTask } from './testing';

describe('hybrid classification', () => {
  it.each([
    { task: aTask('t', { name: 'my-ml-job' }), kind: 'compute', token: 'ml' },
    { task: aTask('t', { name: 'ML_Train' }), kind: 'compute', token: 'ml' },
    { task: aTask('t', { name: 'sensorial' }), kind: 'unclassified' },
    { task: aTask('t', { name: 'html' }), kind: 'unclassified' }, // contains "ml", not as a token
    { task: aTask('t', { name: 'read:sensor' }), kind: 'edge', token: 'sensor' },
    { task: aTask('t', { name: 'run', imageUrl: 'oci://edge.registry.io/apps/add:v1' }), kind: 'unclassified' }, // the host does not count
    { task: aTask('t', { name: 'run', imageUrl: 'https://r.example/batch/job.wasm?x=iot' }), kind: 'compute', token: 'batch' },
    { task: aTask('t', { name: 'run', imageUrl: 'models/ai.wasm' }), kind: 'compute', token: 'ai' },
    { task: aTask('t', { name: 'run', labels: { a: 'x', b: 'IoT.fleet' } }), kind: 'edge', token: 'iot' },
    { task: aTask('t', { name: 'device-ml' }), kind: 'edge', token: 'device' }, // the first keyword token decides
    { task: aTask('t', { name: 'add', labels: { app: 'compute' } }), kind: 'compute', token: 'compute' },
  ])('$task.name $task.imageUrl $task.labels → $kind', ({ task, kind, token }) => {
    const c = classifyTask(task);
    expect(c.kind).toBe(kind);
    if (token !== undefined && c.kind !== 'unclassified') expect(c.token).toBe(token);
  });

  it('splits on - _ . / : only', () => {
    expect(tokens('A-b_c.d/e:f g')).toEqual(['a', 'b', 'c', 'd', 'e', 'f g']);
    expect(imagePath('https://host.example:8443/a/b.wasm#frag')).toBe('/a/b.wasm');
  });

  it('maps kinds to preferences, and the draw decides for the unclassified', () => {
    expect(hybridPreference({ kind: 'compute', token: 'ml', source: 'name' }, 0.9)).toBe('k8s');
    expect(hybridPreference({ kind: 'edge', token: 'iot', source: 'name' }, 0.1)).toBe('external');
    expect(hybridPreference({ kind: 'unclassified' }, 0.2, 0.25)).toBe('k8s');
    expect(hybridPreference({ kind: 'unclassified' }, 0.25, 0.25)).toBe('external');
  });
});
