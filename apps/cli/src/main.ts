import { main } from './program';

// The `propeller` command (bin/propeller.cjs loads this file through tsx).
void main();
