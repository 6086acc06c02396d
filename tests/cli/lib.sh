# Shared by the command-line test scripts (sourced, not run): a temporary
# folder $T removed on exit, pass/fail counters, and the checks.
#   EXPECT_EXIT: the exit code `expect` requires (default: any from 1 to 127,
#   never death by a signal).
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*"
}
# expect NAME REGEX -- COMMAND...: fails with one stderr line matching REGEX.
expect() {
  local name=$1 regex=$2
  shift 3
  "$@" >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  local lines
  lines=$(wc -l <"$T/stderr")
  local code_ok=0
  if [ -n "${EXPECT_EXIT:-}" ]; then [ $rc -eq "$EXPECT_EXIT" ] && code_ok=1
  else [ $rc -ge 1 ] && [ $rc -le 127 ] && code_ok=1; fi
  if [ $code_ok -eq 1 ] && [ "$lines" -eq 1 ] && grep -qE -e "$regex" "$T/stderr"; then
    pass
  else
    fail "$name (exit $rc, $lines stderr lines): $(head -c 400 "$T/stderr")"
  fi
}
# ok NAME COMMAND...: the command must succeed.
ok() {
  local name=$1
  shift
  if "$@" >"$T/stdout" 2>"$T/stderr"; then pass; else fail "$name (exit $?): $(head -c 400 "$T/stderr")"; fi
}
# no_file NAME PATH: an output that must not exist after a failure (nor its temp file).
no_file() {
  if ls "$2"* >/dev/null 2>&1; then fail "$1: left $(ls "$2"*)"; else pass; fi
}
# finish NAME: the closing line 'NAME: N passed, M failed', and the exit code.
finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
