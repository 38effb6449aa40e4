export { wat } from './wat';
