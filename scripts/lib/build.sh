# Building one image, with either of Docker's builders (`. scripts/lib/build.sh`; scripts/build-images
# builds them all). The classic builder (Debian 12's docker.io) prints "Step N/M : ..."; BuildKit (Docker
# 23+ with buildx, or DOCKER_BUILDKIT=1) prints "#N [stage k/m] ..." with BUILDKIT_PROGRESS=plain, which
# the classic builder ignores. Each step is shown as it starts; the whole output goes to a log.

# oci_labels TITLE: `--label` options with the OCI image annotations, from this checkout (the same for every
# build of one commit, so that the build cache and the image ids do not change from one build to the next).
oci_labels() {
  local version revision created source
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
  # Without git (a machine that was handed the checkout), HEAD's commit is read from .git itself.
  revision=$(git rev-parse HEAD 2>/dev/null || git_head || echo unknown)
  # The commit's date (without git, none: a build's own date would change the image at every build).
  created=$(git log -1 --format=%cI 2>/dev/null || true)
  source="${RCODER_IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || echo "file://$PWD")}"
  # One line per word: `--label`, then `org.opencontainers.image.KEY=VALUE` (infra/images.py reads them).
  local pair
  for pair in "title=$1" "source=$source" "version=$version" "revision=$revision" "created=$created" \
      "licenses=MIT OR Apache-2.0" "vendor=RCoder appliance"; do
    [ -z "${pair#*=}" ] || printf -- '--label\norg.opencontainers.image.%s\n' "$pair"
  done
}

# git_head: the commit .git/HEAD names, read without git (a branch's, loose or packed, or a detached one;
# in a worktree, .git is a file naming its folder, and the branches are in the repository's).
git_head() {
  local dir=.git head ref common
  [ ! -f "$dir" ] || dir=$(sed -n 's/^gitdir: //p' "$dir")
  head=$(cat "$dir/HEAD" 2>/dev/null) || return 1
  ref=${head#ref: }
  [ "$ref" != "$head" ] || { echo "$head"; return 0; }
  common=$dir
  [ ! -f "$dir/commondir" ] || common="$dir/$(cat "$dir/commondir")"
  cat "$common/$ref" 2>/dev/null || awk -v ref="$ref" '$2 == ref { print $1; found = 1 } END { exit !found }' \
    "$common/packed-refs"
}

# show_steps: the build's output on stdin; each step, once, as it starts (exits 0 whatever it reads).
show_steps() {
  awk '/^Step [0-9]+\/[0-9]+ :/ || (/^#[0-9]+ \[/ && !/\[internal\]/) {
         line = $0; sub(/^#[0-9]+ /, "", line)
         if (!seen[line]++) { print "    " substr(line, 1, 100); fflush() }
       }'
}

# build_image IMAGE DOCKERFILE [docker build options...]: build IMAGE (name:tag) from the repository root
# with DOCKERFILE, showing its steps and keeping its output in .build/build-<name>.log; on failure, the
# log's last lines, and a non-zero status.
build_image() {
  local image=$1 dockerfile=$2; shift 2
  local name=${image##*/}
  local log=.build/build-${name%%:*}.log started=$SECONDS
  local labels previous
  mapfile -t labels < <(oci_labels "${name%%:*}")
  previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  mkdir -p .build
  echo "==> Building $image (log: $log)"
  # pipefail in a subshell: the build's status, not show_steps', whether or not the caller set it.
  if ! (set -o pipefail; BUILDKIT_PROGRESS=plain docker build -f "$dockerfile" -t "$image" "${labels[@]}" "$@" . \
      </dev/null 2>&1 | tee "$log" | show_steps); then
    echo "error: building $image failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
  echo "    built in $((SECONDS - started)) s"
  remove_replaced "$image" "$previous"
}

# remove_replaced IMAGE PREVIOUS_ID: remove the image IMAGE named before a rebuild, if nothing else names
# or uses it (a rebuild leaves it untagged, and each such agent or desktop image keeps gigabytes on the
# disk until a machine that builds many times runs out of space).
remove_replaced() {
  local image=$1 previous=$2
  [ -n "$previous" ] || return 0
  [ "$(docker image inspect -f '{{.Id}}' "$image")" != "$previous" ] || return 0
  [ "$(docker image inspect -f '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ] || return 0
  # Refused (and left) when a container still runs it or another image is built on it.
  docker image rm "$previous" >/dev/null 2>&1 || true
}
