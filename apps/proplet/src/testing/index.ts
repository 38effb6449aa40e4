export { wat } from './wat';
export { waitFor } from './wait';
export { PlaneClient } from './plane';
export type { SeenMessage } from './plane';
