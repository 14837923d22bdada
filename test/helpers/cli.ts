// Runs the real `ferry` CLI (bin/ferry.js) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ferryBin = path.join(repoRoot, 'bin/ferry.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ferry <args>` to completion. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; /** written to stdin, then closed */ input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ferryBin, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RunningFerry {
  child: ChildProcess;
  output(): string;
  /** Resolves when the combined output matches. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM (clean stop) and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

/** Starts `ferry run --config <file>` and waits until it says it is running. */
export async function startFerry(configFile: string, opts: { env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<RunningFerry> {
  const child = spawn(process.execPath, [ferryBin, 'run', '--config', configFile, '--log-level', 'info', ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const running: RunningFerry = {
    child,
    output: () => out,
    waitForOutput: async (pattern, timeoutMs = 30_000) => {
      const end = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (child.exitCode !== null) throw new Error(`ferry exited (${child.exitCode}) before printing ${pattern}:\n${out}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${pattern}:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
  await running.waitForOutput(/Ferry is running/);
  return running;
}

/** Writes a config object as YAML and returns its path. */
export function writeConfig(dir: string, config: unknown, name = 'ferry.yaml'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}
