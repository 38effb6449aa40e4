import { buildFleet, scenario, selectedParts } from './scheduling';

describe('bench scenario scheduling (a)', () => {
  it('builds a mixed fleet with a realistic share of unhealthy and cordoned proplets', () => {
    const fleet = buildFleet(2000, 0);
    const share = (p: (c: (typeof fleet)[number]) => boolean): number => fleet.filter(p).length / fleet.length;
    expect(share((c) => c.type === 'k8s')).toBeGreaterThan(0.25);
    expect(share((c) => c.dialect === 'wamr')).toBeGreaterThan(0.1);
    expect(share((c) => c.health !== 'healthy')).toBeGreaterThan(0.05);
    expect(share((c) => c.health !== 'healthy')).toBeLessThan(0.2);
    expect(share((c) => c.cordoned)).toBeGreaterThan(0.005);
    expect(new Set(fleet.map((c) => c.id)).size).toBe(2000);
    expect(buildFleet(50, 0)).toEqual(buildFleet(50, 0)); // deterministic: two runs measure the same fleet
  });

  it('measures placement alone with --part a and returns the figures issue 4 asks for', async () => {
    const lines: string[] = [];
    const tables: string[] = [];
    const result = await scenario.run({
      args: ['--part', 'a', '--proplets', '300', '--decisions', '40', '--churn-seconds', '0.2'],
      log: (l) => lines.push(l),
      table: (title) => tables.push(title),
    });
    const placement = result['placement'] as Record<string, unknown>;
    expect(scenario.name).toBe('scheduling');
    expect(placement['proplets']).toBe(300);
    expect(placement['decisions']).toBe(40 * 7);
    for (const k of ['decisions_per_second', 'p50_us', 'p99_us', 'cpu_us_per_decision']) {
      expect(typeof placement[k]).toBe('number');
      expect(placement[k] as number).toBeGreaterThan(0);
    }
    expect(placement['p99_us'] as number).toBeGreaterThanOrEqual(placement['p50_us'] as number);
    expect(Object.keys(result)).toEqual(['placement']);
    expect(tables).toEqual([
      'placement over 300 proplets (target p99 ≤ 1000 µs)',
      'placement over 300 proplets for 0.2 s per feed while 100 proplet changes/s arrive (WAMR heartbeats, health flips; shapes in rotation)',
    ]);
    // The same decisions while proplets change, fed to a Fleet and as a new array per change.
    const churn = placement['under_changes'] as Record<string, Record<string, number>>;
    for (const feed of ['fleet', 'array']) {
      expect(churn[feed]?.['decisions']).toBeGreaterThan(0);
      expect(churn[feed]?.['p99_us']).toBeGreaterThanOrEqual(churn[feed]?.['p50_us'] ?? Infinity);
    }
    expect(lines.some((l) => /placement p99 .* the 1000 µs target/.test(l))).toBe(true);
  });

  it('runs every part unless --part names some, and refuses an unknown part', () => {
    expect(selectedParts([])).toEqual(['a', 'b', 'c']);
    expect(selectedParts(['--devices', '10', '--part', 'c', '--part', 'a'])).toEqual(['a', 'c']);
    expect(selectedParts(['--part', 'b,c'])).toEqual(['b', 'c']);
    expect(() => selectedParts(['--part', 'd'])).toThrow(/--part must be a, b or c/);
  });
});
