/**
 * An exclusive, process-level lock on a PGlite data directory. PGlite has no postmaster to refuse
 * a second opener: two processes on one directory each keep their own buffers and WAL position
 * and corrupt it (observed with PGlite 0.5). Several gateway instances must share PostgreSQL
 * instead; this lock makes the mistake fail loudly at start.
 *
 * The lock is a `<dataDir>.lock` file holding the owner's pid, created with O_EXCL. A lock whose
 * pid is no longer alive (the owner crashed) is taken over. Best effort: two processes taking
 * over the same stale lock at the same instant could both succeed; that needs a crash followed
 * by two simultaneous starts.
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";

export interface DirLock {
  readonly path: string;
  release(): Promise<void>;
}

export async function lockDirectory(dataDir: string): Promise<DirLock> {
  const path = `${dataDir.replace(/[\\/]+$/, "")}.lock`;
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { path, release: () => rm(path, { force: true }) };
    } catch (error) {
      if (!isErrno(error, "EEXIST")) throw error;
      const owner = await readOwner(path);
      if (owner !== undefined && isAlive(owner)) {
        throw new Error(
          `PGlite data directory ${dataDir} is in use by process ${owner} (lock ${path}); ` +
            "run several gateway instances against PostgreSQL (DATABASE_URL) instead",
        );
      }
      // Stale lock from a crashed process (or an unreadable one): remove it and retry once.
      await rm(path, { force: true });
    }
  }
  throw new Error(`could not lock PGlite data directory ${dataDir} (lock ${path})`);
}

async function readOwner(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path, "utf8")).trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw error;
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user — still alive.
    return isErrno(error, "EPERM");
  }
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === code;
}
