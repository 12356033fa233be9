export { main, buildProgram, VERSION } from './main.js';
export { ExitCode } from './exit-codes.js';
