// The peer tools strata is measured against. Missing ones are installed with apt-get when we are
// root on a Debian-like system; otherwise their rows print "n/a" with the reason, never a crash.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

interface PeerPackage {
  /** Debian package name */
  package: string;
  /** executables the bench needs from it */
  executables: string[];
  /** which executable to ask for its version and how; null when none has a version flag */
  version: { executable: string; args: string[] } | null;
}

const PEER_PACKAGES: PeerPackage[] = [
  // mkfs.erofs 1.5 has no version flag; fsck.erofs from the same package does
  { package: 'erofs-utils', executables: ['mkfs.erofs', 'fsck.erofs'], version: { executable: 'fsck.erofs', args: ['-V'] } },
  { package: 'btrfs-progs', executables: ['mkfs.btrfs', 'btrfs'], version: { executable: 'btrfs', args: ['--version'] } },
  { package: 'e2fsprogs', executables: ['mke2fs', 'e2fsck', 'dumpe2fs'], version: { executable: 'mke2fs', args: ['-V'] } },
  { package: 'squashfs-tools', executables: ['mksquashfs', 'unsquashfs'], version: { executable: 'mksquashfs', args: ['-version'] } },
  // the put group: e2cp (and e2mkdir) into an ext4 image, mcopy into a FAT image made by mkfs.fat
  { package: 'e2tools', executables: ['e2cp', 'e2mkdir'], version: null },
  { package: 'mtools', executables: ['mcopy'], version: { executable: 'mcopy', args: ['--version'] } },
  { package: 'dosfstools', executables: ['mkfs.fat'], version: { executable: 'mkfs.fat', args: ['--help'] } },
  // GNU time measures peak RSS of a child and its descendants (wait4 rusage); its --version
  // prints "UNKNOWN" on Debian, so the package version stands in
  { package: 'time', executables: ['time'], version: null },
];

export interface PeerPackageReport {
  package: string;
  available: boolean;
  /** the tool's own version line, or the Debian package version when the tool has no flag */
  version: string | null;
  packageVersion: string | null;
  executables: Record<string, string | null>;
  note: string | null;
}

export interface PeerReport {
  packages: PeerPackageReport[];
  installLog: string[];
}

// e2fsprogs and btrfs-progs live in sbin directories, which a non-root PATH often lacks; these are
// the FHS locations, not anything specific to one machine
const SBIN_FALLBACK = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Resolve an executable through PATH (plus the standard sbin directories); null when absent. */
export function findExecutable(name: string): string | null {
  const searchPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of [...searchPath, ...SBIN_FALLBACK]) {
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** GNU time, verified, since a BSD or busybox time does not take -f/-o the same way. */
export function findGnuTime(): string | null {
  const candidate = findExecutable('time');
  if (!candidate) return null;
  const probe = spawnSync(candidate, ['-f', '%M %U %S', '--', 'true'], { encoding: 'utf8' });
  return probe.status === 0 && /^\d+ [\d.]+ [\d.]+$/.test(probe.stderr.trim().split('\n').pop() ?? '') ? candidate : null;
}

function packageVersion(name: string): string | null {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.trim() !== '' ? result.stdout.trim() : null;
}

function toolVersion(executable: string, args: string[]): string | null {
  const result = spawnSync(executable, args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error) return null;
  // mke2fs prints its version to stderr, others to stdout
  for (const line of `${result.stdout ?? ''}\n${result.stderr ?? ''}`.split('\n')) {
    if (/\d+\.\d+/.test(line) && !/usage/i.test(line)) return line.trim();
  }
  return null;
}

function missingPackages(): PeerPackage[] {
  return PEER_PACKAGES.filter((peer) => peer.executables.some((name) => findExecutable(name) === null));
}

function aptGet(args: string[], log: string[]): boolean {
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60_000,
  });
  const ok = result.status === 0;
  log.push(`apt-get ${args.join(' ')}: ${ok ? 'ok' : `failed (${(result.stderr ?? result.error?.message ?? '').trim().split('\n').pop()})`}`);
  return ok;
}

/**
 * Make sure the peer tools are there. Installs what is missing when allowed and possible (root,
 * apt-get present); a failed install leaves those packages marked unavailable with a note.
 */
export function ensurePeers(options: { install: boolean; log(line: string): void }): PeerReport {
  const installLog: string[] = [];
  const missing = missingPackages();
  if (missing.length > 0) {
    const names = missing.map((peer) => peer.package);
    const isRoot = process.getuid?.() === 0;
    if (!options.install) {
      installLog.push(`not installing ${names.join(', ')}: installation disabled (STRATA_BENCH_NO_INSTALL)`);
    } else if (!isRoot) {
      installLog.push(`not installing ${names.join(', ')}: not root`);
    } else if (findExecutable('apt-get') === null) {
      installLog.push(`not installing ${names.join(', ')}: no apt-get`);
    } else {
      options.log(`installing peer tools: ${names.join(', ')}`);
      const installArgs = ['install', '-y', '--no-install-recommends', ...names];
      // the first try skips "apt-get update": package lists are often present and update is slow
      if (!aptGet(installArgs, installLog)) {
        // install as many as possible: retry after refreshing the lists, then one by one
        aptGet(['update'], installLog);
        if (!aptGet(installArgs, installLog)) {
          for (const name of names) aptGet(['install', '-y', '--no-install-recommends', name], installLog);
        }
      }
    }
  }
  for (const line of installLog) options.log(line);

  const packages = PEER_PACKAGES.map((peer): PeerPackageReport => {
    const executables = Object.fromEntries(peer.executables.map((name) => [name, findExecutable(name)]));
    const available = Object.values(executables).every((path) => path !== null);
    const pkgVersion = packageVersion(peer.package);
    const versionExecutable = peer.version ? executables[peer.version.executable] : null;
    const version = versionExecutable && peer.version ? toolVersion(versionExecutable, peer.version.args) : null;
    const absent = peer.executables.filter((name) => executables[name] === null);
    return {
      package: peer.package,
      available,
      version: version ?? pkgVersion,
      packageVersion: pkgVersion,
      executables,
      note: available ? null : `missing ${absent.join(', ')}; its rows are skipped`,
    };
  });
  return { packages, installLog };
}
