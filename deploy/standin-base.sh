#!/bin/sh
# A local stand-in for the official python:3.11 slim-bookworm base image, for machines whose
# Docker engine works but cannot pull from any registry (see deploy/README.md):
#
#   make standin-base                       # or: sudo sh deploy/standin-base.sh
#   make image-check BASE_IMAGE=sanicms/base:bookworm-python3.11
#
# It bootstraps Debian bookworm (variant minbase) with Debian's own python3 (3.11) and
# python3-venv into a directory, applies bookworm-updates and bookworm-security, and imports
# the tree into the engine with `docker import`. Only Debian's package mirror is needed.
# This is a stand-in to test the image where pulls are impossible, not a production base.
#
# Settings (environment):
#   STANDIN_TAG      the tag to create          (default sanicms/base:bookworm-python3.11)
#   DEBIAN_MIRROR    bookworm mirror            (default http://deb.debian.org/debian;
#                    a snapshot.debian.org URL makes the tree reproducible)
#   SECURITY_MIRROR  bookworm-security mirror   (default http://deb.debian.org/debian-security)
#   UPGRADE=0        skip bookworm-updates/-security (keep the suite's point release)
#   WORKDIR          where the tree is built    (default a new directory under /var/tmp)
#   TIMEOUT          seconds allowed for each of debootstrap and the upgrade (default 1200)
#   EXTRA_CA_CERTS   a PEM file of CA certificates the stand-in trusts too, or "none".
#                    Default: the CAs this machine trusts beyond Debian's ca-certificates
#                    (in /usr/local/share/ca-certificates or appended to its bundle), such as
#                    a TLS-intercepting proxy's: pip inside `docker build` needs them to
#                    reach the package index from where this machine does.
set -eu

TAG="${STANDIN_TAG:-sanicms/base:bookworm-python3.11}"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
UPGRADE="${UPGRADE:-1}"
TIMEOUT="${TIMEOUT:-1200}"
# What the image needs from its base: python3 3.11 with venv (and pip, as the official image
# has), CA certificates for TLS, passwd for groupadd/useradd, tzdata as the official image has.
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,passwd,tzdata
PATH_IN_IMAGE=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'standin-base: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap creates device nodes and owns files as root)"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"
command -v docker >/dev/null || die "docker not found: apt-get install docker.io, then start dockerd"
timeout 30 docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running? try: dockerd >/var/log/dockerd.log 2>&1 &)"

started=$(date +%s)
work="${WORKDIR:-$(mktemp -d /var/tmp/sanicms-standin.XXXXXX)}"
rootfs="$work/rootfs"
mkdir -p "$rootfs"
cleanup() {
  umount "$rootfs/proc" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "debootstrap $SUITE (minbase) from $MIRROR into $rootfs"
timeout "$TIMEOUT" debootstrap --variant=minbase --include="$PACKAGES" \
  "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
EOF

# Like the official slim images: no documentation, no recommends, no apt caches.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90-sanicms-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/90-sanicms" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::http::Timeout "30";
Acquire::Retries "3";
EOF

# CAs this machine trusts beyond Debian's own set: certificates in its bundle that come from no
# file of the ca-certificates package.
host_bundle=/etc/ssl/certs/ca-certificates.crt
extra="$work/extra-ca.pem"
case "${EXTRA_CA_CERTS:-auto}" in
  none) : >"$extra" ;;
  auto)
    if [ -f "$host_bundle" ] && [ -d /usr/share/ca-certificates ]; then
      find /usr/share/ca-certificates -name '*.crt' -type f -exec cat {} + >"$work/debian-ca.pem"
      awk -v bundle="$host_bundle" '
        /-----BEGIN CERTIFICATE-----/ { pem = ""; inside = 1 }
        inside { pem = pem $0 "\n" }
        /-----END CERTIFICATE-----/ {
          inside = 0
          if (FILENAME != bundle) known[pem] = 1
          else if (!(pem in known)) printf "%s", pem
        }' "$work/debian-ca.pem" "$host_bundle" >"$extra"
    else
      : >"$extra"
    fi ;;
  *) cp "$EXTRA_CA_CERTS" "$extra" ;;
esac
count=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$extra" || true)
if [ "$count" -gt 0 ]; then
  # one certificate per file, as update-ca-certificates expects
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  awk -v dir="$rootfs/usr/local/share/ca-certificates" '
    /-----BEGIN CERTIFICATE-----/ { n++; file = sprintf("%s/sanicms-standin-extra-%d.crt", dir, n) }
    file { print > file }
    /-----END CERTIFICATE-----/ { close(file); file = "" }' "$extra"
  chroot "$rootfs" update-ca-certificates >"$work/ca.log" 2>&1 || { cat "$work/ca.log" >&2; die "update-ca-certificates failed"; }
  say "the stand-in also trusts $count CA certificate(s) of this machine (EXTRA_CA_CERTS=none to leave them out):"
  for crt in "$rootfs"/usr/local/share/ca-certificates/sanicms-standin-extra-*.crt; do
    say "  $(openssl x509 -noout -subject -in "$crt" 2>/dev/null || basename "$crt")"
  done
fi

if [ "$UPGRADE" != 0 ]; then
  say "applying $SUITE-updates and $SUITE-security"
  mount -t proc proc "$rootfs/proc"
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"   # start no daemons in the chroot
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  timeout "$TIMEOUT" chroot "$rootfs" /usr/bin/env -i PATH="$PATH_IN_IMAGE" DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -q && apt-get upgrade -y -q' >"$work/upgrade.log" 2>&1 \
    || { tail -n 30 "$work/upgrade.log" >&2; die "apt-get upgrade in the chroot failed (log above)"; }
  rm -f "$rootfs/usr/sbin/policy-rc.d"
  umount "$rootfs/proc"
fi

# Nothing of this machine or of the build in the image.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
       "$rootfs"/var/cache/debconf/*-old "$rootfs"/tmp/* "$rootfs"/usr/share/doc/*/changelog* \
       "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

version=$(chroot "$rootfs" python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
case "$version" in
  3.11.*) ;;
  *) die "expected Debian bookworm's python3 3.11, found $version" ;;
esac

say "importing as $TAG (python $version)"
tar --numeric-owner -C "$rootfs" -c . | timeout 600 docker import \
  --change "ENV PATH=$PATH_IN_IMAGE" \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --change "LABEL org.opencontainers.image.description=\"local stand-in: Debian $SUITE minbase with python3 $version (deploy/standin-base.sh)\"" \
  --message "deploy/standin-base.sh: debootstrap $SUITE minbase, python3 $version" \
  - "$TAG" >/dev/null

# The image must be able to do what deploy/Dockerfile asks of its base.
timeout 120 docker run --rm --network none "$TAG" sh -c \
  'python3 -m venv /tmp/v && /tmp/v/bin/python -m pip --version >/dev/null && command -v groupadd >/dev/null && command -v useradd >/dev/null && python3 -c "import ssl, sqlite3, zoneinfo, venv"' \
  || die "the imported image cannot create a venv with pip (or lacks groupadd/useradd)"

size=$(docker image inspect --format '{{.Size}}' "$TAG")
say "done: $TAG, python $version, $((size / 1000000)) MB, in $(( $(date +%s) - started )) s"
