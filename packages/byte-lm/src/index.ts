export type { CausalLM, KvCache, ForwardInput, ForwardOutput } from './causal-lm.js';
