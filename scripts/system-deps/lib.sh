# Shared by the scripts in this folder: install Debian packages only when missing.
# Usage: apt_ensure PKG... (runs `apt-get update` once per machine run, only if something is missing)
apt_ensure() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
    return 0
  fi
  if [ ! -f /tmp/.resnet-ts-apt-updated ]; then
    apt-get update -qq && touch /tmp/.resnet-ts-apt-updated
  fi
  echo "system-deps: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
