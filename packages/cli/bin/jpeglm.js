#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm ci` through the root `prepare` script).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv);
