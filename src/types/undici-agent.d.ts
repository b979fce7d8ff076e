// The Agent module of undici on its own (src/delivery/http-client.ts says why): the same class as undici's export.
declare module 'undici/lib/dispatcher/agent.js' {
  import { Agent } from 'undici';
  export default Agent;
}
