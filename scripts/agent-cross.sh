#!/usr/bin/env bash
# Cross-builds edgenas-agent for an arm64 or armv7 Linux board on this x86_64 Debian machine.
#
#   scripts/agent-cross.sh aarch64|armv7     # prints the path of the agent it built
#
# rustup cannot add targets where its servers are unreachable, so the build uses Debian's Rust
# (rustc-web / cargo-web, 1.96, in /usr/bin), whose target standard libraries come as multiarch
# packages. Installed when missing (as root; `dpkg --add-architecture` first):
#   rustc-web cargo-web libstd-rust-web-dev:<arm64|armhf> gcc-<aarch64-linux-gnu|arm-linux-gnueabihf>
#   libc6-dev-<arm64|armhf>-cross qemu-user
# The rustup toolchain earlier on PATH stays the default for everything else; the cross build
# has its own target folder (target/cross), so neither toolchain rebuilds the other's output.
# Cold: 5 min 22 s on 2 idle cores (17 minutes beside another build); after a change, seconds.
#
# Run the result under emulation with scripts/agent-qemu.sh, or copy it to the board.
set -euo pipefail

arch=${1:-}
case "$arch" in
aarch64)
  deb=arm64 triple=aarch64-unknown-linux-gnu cc=aarch64-linux-gnu-gcc
  ;;
armv7)
  deb=armhf triple=armv7-unknown-linux-gnueabihf cc=arm-linux-gnueabihf-gcc
  ;;
*)
  echo "usage: $0 aarch64|armv7" >&2
  exit 2
  ;;
esac
cd "$(dirname "$0")/.."
cc_pkg=gcc-${cc%-gcc}
packages=(rustc-web cargo-web "libstd-rust-web-dev:$deb" "$cc_pkg" "libc6-dev-$deb-cross" qemu-user)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "$0: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  dpkg --print-foreign-architectures | grep -qx "$deb" || dpkg --add-architecture "$deb"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

linker_var=CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER
export RUSTC=/usr/bin/rustc "$linker_var=$cc" CARGO_TARGET_DIR=target/cross
/usr/bin/cargo build --release --locked -p edgenas-agent --target "$triple" >&2
echo "target/cross/$triple/release/edgenas-agent"
