# Sourced by bench/*/run.sh.

# Before a measured run: what earlier runs left to write back goes to disk,
# and (as root) the page cache is dropped. On the development VM a page
# cache full of earlier runs' files made the same work up to 3x slower
# (a 20,000-file checkout: 1.2 s after a drop, 3.7 s without), so every
# measured run, baselines included, starts from the same state.
settle() {
  sync
  if [[ -w /proc/sys/vm/drop_caches ]]; then echo 3 > /proc/sys/vm/drop_caches; fi
}
