// Types of src/build/bundle.mjs (plain JavaScript: bin/hvaemu.mjs loads it before any build).
export declare const ROOT: string;
export declare const ENTRIES: Record<'cli' | 'cpu' | 'host', string>;
export declare const KEY_DIRS: string[];
export declare const KEY_FILES: string[];
export type Build = { dir: string; cli: string; cpu: string; host: string };
export declare function cacheRoot(root?: string): string;
export declare function sourceKey(root?: string): string;
export declare function buildFiles(dir: string): Build;
export declare function ensureBuild(opts?: {
  root?: string;
  onBuild?: () => void;
}): Promise<Build & { key: string; built: boolean }>;
export declare function isUnwritable(e: unknown): boolean;
export declare function constAliases(code: string): string;
