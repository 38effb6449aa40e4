export { wat } from './wat';
export { waitFor } from './wait';
