/** The one place the release version lives; scripts/compile.ts and the manifests read it from here. */
export const VERSION = "0.1.0";
