/**
 * The order a pool's projects are tried in for one call (#17). `order`: as configured.
 * `weight`: a weighted random order without replacement (Efraimidis–Spirakis: each project's
 * key is u^(1/weight), highest first), so a project of weight 3 comes first three times as often
 * as one of weight 1, and the rest still follow as spill candidates. The store then admits the
 * first of them with room, atomically.
 */
export interface PoolMember<P> {
  project: P;
  weight: number;
}

export interface PoolSpec<P> {
  id: string;
  strategy: 'order' | 'weight';
  members: ReadonlyArray<PoolMember<P>>;
}

/** `random` returns a number in [0, 1), like Math.random (tests inject their own). */
export function orderPool<P>(pool: PoolSpec<P>, random: () => number): P[] {
  if (pool.strategy === 'order' || pool.members.length < 2) return pool.members.map((m) => m.project);
  return pool.members
    .map((m) => ({ project: m.project, key: Math.pow(random(), 1 / m.weight) }))
    .sort((a, b) => b.key - a.key)
    .map((m) => m.project);
}
