#!/usr/bin/env bash
# `make install` / `make uninstall`: puts the built daemon on the PATH with its systemd unit and a commented
# configuration file, or removes them again.
#
#   $DESTDIR$PREFIX/bin/ucri                    launcher: node + the daemon's node flags + lib/ucri/dist/bundle/ucri/main.js
#   $DESTDIR$PREFIX/lib/ucri/                   package.json, dist/{bundle,cmd,pkg,native}, production node_modules
#   $DESTDIR$SYSTEMD_UNIT_DIR/ucri.service      from packaging/ucri.service.in
#   $DESTDIR$SYSCONFDIR/ucri/config.toml        packaging/config.toml (an edited one is never overwritten)
#
# PREFIX (default /usr/local), SYSCONFDIR (/etc), SYSTEMD_UNIT_DIR ($PREFIX/lib/systemd/system), DESTDIR
# (staging root, default empty) and NODE (node, resolved to an absolute path) come from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
SYSTEMD_UNIT_DIR=${SYSTEMD_UNIT_DIR:-$PREFIX/lib/systemd/system}
DESTDIR=${DESTDIR:-}
for d in "$PREFIX" "$SYSCONFDIR" "$SYSTEMD_UNIT_DIR"; do
  [[ $d == /* ]] || { echo "install: \"$d\" must be an absolute path" >&2; exit 2; }
done

bin=$DESTDIR$PREFIX/bin/ucri
lib=$DESTDIR$PREFIX/lib/ucri
unit=$DESTDIR$SYSTEMD_UNIT_DIR/ucri.service
confdir=$DESTDIR$SYSCONFDIR/ucri
conf=$confdir/config.toml
MARK='# ucri launcher (make install)'

# Reload systemd only for a real install on a host that runs it; a staged (DESTDIR) install is not live.
reload_systemd() {
  if [[ -z $DESTDIR && -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl daemon-reload || true
  fi
}

do_install() {
  [[ -f dist/bundle/ucri/main.js ]] || { echo "install: run make build first" >&2; exit 1; }
  local node
  node=$(command -v "${NODE:-node}") || { echo "install: node not found" >&2; exit 1; }
  # The flags `ucri serve` is meant to run with have one source: cmd/ucri/node-flags.ts.
  local flags
  flags=$("$node" --input-type=module -e \
    "const m = await import('./dist/cmd/ucri/node-flags.js'); console.log(m.SERVE_NODE_FLAGS.join(' '))")
  # Its environment too (defaults: a value set by the caller wins), as `NAME=\${NAME:-value}; export NAME` lines.
  local envlines
  envlines=$("$node" --input-type=module -e \
    "const m = await import('./dist/cmd/ucri/node-flags.js'); for (const [k, v] of Object.entries(m.SERVE_ENV)) console.log(k + '=\${' + k + ':-' + v + '}; export ' + k)")

  # The tree is staged next to its place and swapped in, so a failed copy leaves the old install whole.
  mkdir -p "$(dirname "$lib")"
  rm -rf "$lib.new"
  mkdir -p "$lib.new/dist"
  cp -a package.json "$lib.new/"
  cp -a dist/bundle dist/cmd dist/pkg dist/native "$lib.new/dist/"
  # Production dependencies only, as npm resolved them (the first line is the project itself).
  local here=$PWD p rel
  while IFS= read -r p; do
    [[ $p == "$here/node_modules/"* && -d $p ]] || continue
    rel=${p#"$here/"}
    mkdir -p "$lib.new/$(dirname "$rel")"
    cp -a "$p" "$lib.new/$rel"
  done < <(npm ls --omit=dev --all --parseable 2>/dev/null || true)
  rm -rf "$lib.old"
  if [[ -e $lib ]]; then mv "$lib" "$lib.old"; fi
  mv "$lib.new" "$lib"
  rm -rf "$lib.old"

  mkdir -p "$(dirname "$bin")"
  cat > "$bin.new" <<LAUNCHER
#!/bin/sh
$MARK: the daemon's node with the flags \`ucri serve\` runs with.
here=\$(dirname "\$(readlink -f "\$0")")
$envlines
exec $node $flags "\$here/../lib/ucri/dist/bundle/ucri/main.js" "\$@"
LAUNCHER
  chmod 755 "$bin.new"
  mv "$bin.new" "$bin"

  mkdir -p "$(dirname "$unit")"
  sed "s|@BINDIR@|$PREFIX/bin|g" packaging/ucri.service.in > "$unit.new"
  chmod 644 "$unit.new"
  mv "$unit.new" "$unit"

  mkdir -p "$confdir"
  if [[ ! -e $conf ]]; then
    install -m 644 packaging/config.toml "$conf"
  elif ! cmp -s packaging/config.toml "$conf"; then
    echo "install: keeping the edited $conf (the defaults are in packaging/config.toml)"
  fi
  reload_systemd
  echo "installed $bin, $unit and $conf"
  if [[ -z $DESTDIR ]]; then echo "start it with: systemctl enable --now ucri"; fi
}

do_uninstall() {
  if [[ -z $DESTDIR ]] && command -v systemctl >/dev/null && systemctl is-active --quiet ucri 2>/dev/null; then
    echo "uninstall: ucri.service is running; stop it first (systemctl disable --now ucri)" >&2
    exit 1
  fi
  # Only our own launcher goes: a `ucri` somebody else put there stays.
  if [[ -e $bin ]]; then
    if grep -qF "$MARK" "$bin"; then rm -f "$bin"; else echo "uninstall: $bin is not ucri's launcher; kept" >&2; fi
  fi
  rm -rf "$lib" "$lib.new" "$lib.old"
  rm -f "$unit"
  # Like a package's conffile: an edited configuration is the administrator's and stays.
  if [[ -e $conf ]]; then
    if cmp -s packaging/config.toml "$conf"; then rm -f "$conf"; else echo "uninstall: keeping the edited $conf"; fi
  fi
  rmdir "$confdir" 2>/dev/null || true
  reload_systemd
  echo "removed ucri from $DESTDIR$PREFIX"
}

case ${1:-} in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "usage: hack/install.sh install|uninstall" >&2; exit 2 ;;
esac
