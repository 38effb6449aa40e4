/**
 * Keys of the singleton leases in `<p>_leases` (ARCHITECTURE.md "Singletons, leases and replicas").
 * The revision that acquired one is the fencing token its holder carries in the commands it sends;
 * the receiving service checks the token against the key named here.
 */
export const LEASE_NAMES = {
  /** The health monitor replica that judges health; fences `proplet.changeHealth` and `site.pauseEvacuation`. */
  healthJudge: 'health-judge',
  /** The scheduler replica that runs the placement loop; fences `task.schedule`, `task.recordUnschedulable`, `task.recordTimeout`. */
  scheduler: 'scheduler',
  /** The replica that runs projection `name` (the key `ProjectionRunner` uses). */
  projection: (name: string): string => `projection.${name}`,
} as const;
