// What the web console takes from the TypeScript SDK (sdk/typescript): bundled by
// scripts/console-sdk into crates/vesper-gateway/console/vendor/vesper-sdk.js.
export { ClientIdentity } from "../sdk/typescript/src/identity.js";
export { sealJob, jobFacts, programIdOf } from "../sdk/typescript/src/envelope.js";
export { verifyKeys, currentPoolKey, verifyResultBody } from "../sdk/typescript/src/receipt.js";
export { toHex } from "../sdk/typescript/src/bytes.js";
