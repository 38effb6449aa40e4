#!/usr/bin/env node
// Launcher of the `propeller` command (`npx propeller` from the repository root): the CLI is
// TypeScript run through tsx, like every other process of the workspace, so there is no build step.
'use strict';
require('tsx/cjs');
require('../src/main.ts');
