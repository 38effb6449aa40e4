import {
  parseStart,
  parseStop,
  shapeStart,
  shapeStop,
  startFitsWamr,
  wireIdFor,
  WAMR_MAX_START_BYTES,
  type ShapeStartInput,
  type ShapeTarget,
  type StartPayload,
} from './index';

// PROTOCOL.md "Examples": `add(i32, i32) -> i32` (41 bytes) and the same body exported as `main` (42 bytes).
const ADD_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';
const MAIN_WASM = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwgBBG1haW4AAAoJAQcAIAAgAWoL';
const TASK = '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';

/** Small fluent builder of shapeStart inputs. */
class StartBuilder {
  private input: ShapeStartInput = {
    task: { id: TASK, name: 'add', inputs: [10, 32] },
    attempt: 1,
    target: { propletId: 'p1', dialect: 'wasmtime', perPropletTopics: false, channel: { domainId: 'd', channelId: 'ch', layout: 'direct' } },
    module: { file: ADD_WASM },
  };
  static aStart(): StartBuilder {
    return new StartBuilder();
  }
  forDialect(dialect: ShapeTarget['dialect']): this {
    this.input.target = { ...this.input.target, dialect };
    return this;
  }
  to(target: Partial<ShapeTarget>): this {
    this.input.target = { ...this.input.target, ...target };
    return this;
  }
  withInputs(...inputs: (string | number)[]): this {
    this.input.task = { ...this.input.task, inputs };
    return this;
  }
  withModule(module: ShapeStartInput['module']): this {
    this.input.module = module;
    return this;
  }
  attempt(n: number): this {
    this.input.attempt = n;
    return this;
  }
  build(): ShapeStartInput {
    return structuredClone(this.input);
  }
}
const aStart = StartBuilder.aStart;

function shaped(input: ShapeStartInput): { topic: string; payload: string; message: StartPayload; bytes: number } {
  const s = shapeStart(input);
  if (!s.ok) throw new Error(`refused: ${s.reason} ${s.message}`);
  return s;
}

describe('shapeStart for wasmtime targets', () => {
  it('sends inputs as strings, state 0, cli_args, env and the flags, on the shared topic', () => {
    const s = shaped(aStart().build());
    expect(s.topic).toBe('m/d/c/ch/control/manager/start');
    expect(JSON.parse(s.payload)).toEqual({
      id: TASK,
      name: 'add',
      state: 0,
      file: ADD_WASM,
      inputs: ['10', '32'],
      cli_args: [],
      env: {},
      daemon: false,
      latent: false,
      encrypted: false,
      proplet_id: 'p1',
    });
    expect(s.bytes).toBe(Buffer.byteLength(s.payload));
  });

  it('adds task_id and attempt for proplets that speak the extension, with the attempt’s wire id', () => {
    const s = shaped(aStart().attempt(3).to({ extension: true }).build());
    expect(s.message).toMatchObject({ id: wireIdFor(TASK, 3), task_id: TASK, attempt: 3 });
  });

  it.each([
    ['per-proplet topics, extension unsaid', { perPropletTopics: true }, true],
    ['per-proplet topics, extension false', { perPropletTopics: true, extension: false }, false],
    ['shared topics, extension unsaid', { perPropletTopics: false }, false],
  ])('with %s, task_id/attempt present: %s', (_name, target, present) => {
    const message = shaped(aStart().attempt(2).to(target).build()).message;
    expect('task_id' in message && 'attempt' in message).toBe(present);
  });

  it('uses the per-proplet topic when the proplet asked for it', () => {
    const s = shaped(aStart().to({ perPropletTopics: true, channel: { domainId: 'd', channelId: 'ch', layout: 'messages' } }).build());
    expect(s.topic).toBe('m/d/c/ch/messages/control/manager/start/p1');
  });

  it('broadcasts on the shared topic without a proplet id', () => {
    const s = shaped(aStart().to({ propletId: undefined, perPropletTopics: true }).build());
    expect(s.topic).toBe('m/d/c/ch/control/manager/start');
    expect(s.message.broadcast).toBe(true);
    expect(s.message).not.toHaveProperty('proplet_id');
  });

  it('names the module by image_url when it is not inline, and encodes bytes as base64', () => {
    expect(shaped(aStart().withModule({ imageUrl: 'registry/add:1' }).build()).message).toMatchObject({ image_url: 'registry/add:1' });
    expect(shaped(aStart().withModule({ file: Buffer.from(ADD_WASM, 'base64') }).build()).message.file).toBe(ADD_WASM);
  });

  it('produces a start that the protocol’s own parser reads back', () => {
    const parsed = parseStart(shaped(aStart().to({ extension: true }).attempt(2).build()).payload);
    expect(parsed).toMatchObject({ ok: true, value: { id: wireIdFor(TASK, 2), inputs: ['10', '32'], state: 0, attempt: 2 } });
  });
});

describe('shapeStart for wamr targets', () => {
  it('sends integer inputs, name "main" and only what the firmware reads', () => {
    const s = shaped(aStart().forDialect('wamr').withModule({ file: MAIN_WASM }).withInputs('10', 32, '-7').build());
    expect(JSON.parse(s.payload)).toEqual({ id: TASK, name: 'main', state: 0, file: MAIN_WASM, inputs: [10, 32, -7], proplet_id: 'p1' });
    expect(s.bytes).toBeLessThanOrEqual(WAMR_MAX_START_BYTES);
  });

  it.each<[string, (string | number)[], string, RegExp]>([
    ['a fractional input', [1.5], 'inputs[0]', /got 1\.5/],
    ['an input above i32', [1, 2 ** 31], 'inputs[1]', /got 2147483648/],
    ['an input below i32', [-(2 ** 31) - 1], 'inputs[0]', /i32 range/],
    ['a non-numeric string', [1, 2, 'ten'], 'inputs[2]', /got "ten"/],
    ['a decimal string', ['3.5'], 'inputs[0]', /got "3\.5"/],
  ])('refuses %s, naming it', (_name, inputs, field, message) => {
    const s = shapeStart(aStart().forDialect('wamr').withInputs(...inputs).build());
    expect(s).toMatchObject({ ok: false, reason: 'invalid_input', field });
    expect(!s.ok && s.message).toMatch(message);
  });

  it('accepts the i32 extremes', () => {
    expect(shaped(aStart().forDialect('wamr').withInputs(2 ** 31 - 1, -(2 ** 31)).build()).message.inputs).toEqual([2147483647, -2147483648]);
  });

  it('accepts 16 inputs and refuses 17', () => {
    const sixteen = Array.from({ length: 16 }, (_, i) => i);
    expect(shapeStart(aStart().forDialect('wamr').withInputs(...sixteen).build()).ok).toBe(true);
    expect(shapeStart(aStart().forDialect('wamr').withInputs(...sixteen, 16).build())).toMatchObject({ ok: false, reason: 'too_many_inputs', field: 'inputs' });
  });

  it('allows exactly 1,023 bytes and refuses 1,024 with the size', () => {
    const file = 'AAAA'.repeat(225); // 900 characters of base64
    const base = shaped(aStart().forDialect('wamr').withModule({ file }).build()).bytes;
    const fill = (extra: number): ShapeStartInput => aStart().forDialect('wamr').withModule({ file }).to({ propletId: 'p1' + 'x'.repeat(extra) }).build();
    const exact = shaped(fill(WAMR_MAX_START_BYTES - base));
    expect(exact.bytes).toBe(1023);
    const over = shapeStart(fill(WAMR_MAX_START_BYTES - base + 1));
    expect(over).toMatchObject({ ok: false, reason: 'too_large_for_wamr', size: 1024 });
    expect(!over.ok && over.message).toMatch(/1024 bytes, over the 1023-byte limit/);
  });

  it('falls back to image_url (module via registry) when the inline module is too large', () => {
    const big = Buffer.alloc(2000, 1);
    const s = shaped(aStart().forDialect('wamr').withModule({ file: big, imageUrl: 'registry/big:1' }).build());
    expect(s.message).toMatchObject({ image_url: 'registry/big:1' });
    expect(s.message).not.toHaveProperty('file');
  });

  it('refuses a too-large inline module without an image_url', () => {
    const s = shapeStart(aStart().forDialect('wamr').withModule({ file: Buffer.alloc(2000, 1) }).build());
    expect(s).toMatchObject({ ok: false, reason: 'too_large_for_wamr' });
    expect(!s.ok && s.size).toBeGreaterThan(2000);
  });

  it('adds task_id and attempt for our firmware', () => {
    expect(shaped(aStart().forDialect('wamr').attempt(2).to({ extension: true }).build()).message).toMatchObject({ id: wireIdFor(TASK, 2), task_id: TASK, attempt: 2 });
  });
});

describe('shapeStart refusals common to both dialects', () => {
  it.each(['wasmtime', 'wamr'] as const)('refuses a %s start without a module', (dialect) => {
    expect(shapeStart(aStart().forDialect(dialect).withModule({}).build())).toMatchObject({ ok: false, reason: 'missing_module' });
  });

  it('refuses a proplet id that cannot be a topic level for per-proplet topics', () => {
    expect(shapeStart(aStart().to({ propletId: 'a/b', perPropletTopics: true }).build())).toMatchObject({ ok: false, reason: 'invalid_target', field: 'target.propletId' });
  });

  it('refuses a bad channel', () => {
    expect(shapeStart(aStart().to({ channel: { domainId: 'd', channelId: '#', layout: 'direct' } }).build())).toMatchObject({ ok: false, reason: 'invalid_target', field: 'target.channelId' });
  });
});

describe('startFitsWamr', () => {
  it('says a small start fits, with its size', () => {
    const fit = startFitsWamr(aStart().withModule({ file: MAIN_WASM }).build());
    expect(fit).toEqual({ fits: true, size: shaped(aStart().forDialect('wamr').withModule({ file: MAIN_WASM }).build()).bytes });
  });

  it('says a large one does not, with its size and reason', () => {
    expect(startFitsWamr(aStart().withModule({ file: Buffer.alloc(1000) }).build())).toMatchObject({ fits: false, reason: 'too_large_for_wamr', size: expect.any(Number) });
  });

  it('says string inputs that are not integers do not fit', () => {
    expect(startFitsWamr(aStart().withInputs('hello').build())).toMatchObject({ fits: false, reason: 'invalid_input' });
  });
});

describe('shapeStop', () => {
  const target: ShapeTarget = { propletId: 'p1', dialect: 'wasmtime', perPropletTopics: false, channel: { domainId: 'd', channelId: 'ch', layout: 'direct' } };

  it.each<[string, Parameters<typeof shapeStop>[0], string, Record<string, unknown>]>([
    ['wasmtime, shared topic', { taskId: TASK, attempt: 1, target }, 'm/d/c/ch/control/manager/stop', { id: TASK, proplet_id: 'p1' }],
    ['wasmtime, attempt 2', { taskId: TASK, attempt: 2, target }, 'm/d/c/ch/control/manager/stop', { id: wireIdFor(TASK, 2), proplet_id: 'p1' }],
    ['wamr, strings for name and state', { wireId: 'w-9', target: { ...target, dialect: 'wamr' } }, 'm/d/c/ch/control/manager/stop', { id: 'w-9', proplet_id: 'p1', name: 'main', state: 'stopped' }],
    ['per-proplet topic', { wireId: 'w-9', target: { ...target, perPropletTopics: true } }, 'm/d/c/ch/control/manager/stop/p1', { id: 'w-9', proplet_id: 'p1' }],
    ['broadcast', { wireId: 'w-9', target: { ...target, propletId: undefined, perPropletTopics: true } }, 'm/d/c/ch/control/manager/stop', { id: 'w-9', broadcast: true }],
  ])('shapes a %s stop', (_name, input, topic, payload) => {
    const s = shapeStop(input);
    expect(s).toMatchObject({ ok: true, topic });
    if (!s.ok) return;
    expect(JSON.parse(s.payload)).toEqual(payload);
    expect(parseStop(s.payload).ok).toBe(true);
  });

  it('refuses an attempt below 1', () => {
    expect(shapeStop({ taskId: TASK, attempt: 0, target })).toMatchObject({ ok: false, reason: 'invalid_target', field: 'attempt' });
  });
});
