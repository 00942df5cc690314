// The Node entry point: everything of the main one, plus the file-backed store.
export * from "./index.js";
export { FilePersistence } from "./persistence/file.js";
export type { FilePersistenceOptions } from "./persistence/file.js";
