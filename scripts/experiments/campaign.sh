#!/usr/bin/env bash
# The papers' training campaign: runs the jobs of scripts/experiments/campaign.jobs in order, niced,
# skipping finished ones and resuming interrupted ones from their checkpoints; after each job it
# regenerates the reports in docs/results/ (scripts/experiments/collect.cjs), so a later session
# only has to commit them. Plan, speeds and status: docs/results/campaign.md.
#
#   scripts/experiments/campaign.sh start     # in the background (survives the shell), logs to runs/campaign/campaign.log
#   scripts/experiments/campaign.sh status    # what is done, running, pending (also writes docs/results/campaign-status.md)
#   scripts/experiments/campaign.sh stop      # the running job checkpoints after its current step, then the driver exits
#   scripts/experiments/campaign.sh retry ID  # forget the failures of job ID (after fixing what made it fail)
#   scripts/experiments/campaign.sh run       # the loop itself, in the foreground
#
# Environment: CAMPAIGN_RUNS (default <repo>/runs/campaign, git-ignored), CAMPAIGN_NICE (default 19),
# CAMPAIGN_JOBS (default scripts/experiments/campaign.jobs) and CAMPAIGN_RESULTS (default docs/results)
# for a trial run.
# The whole script is one function, parsed before it runs: editing this file (or pulling) does not
# disturb a running driver; the job list is read once per pass, so restart the driver to pick up new jobs.
main() {
  set -u
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  local runs=${CAMPAIGN_RUNS:-$root/runs/campaign}
  local jobs_file=${CAMPAIGN_JOBS:-$root/scripts/experiments/campaign.jobs}
  local log=$runs/campaign.log
  local pidfile=$runs/driver.pid
  local niceness=${CAMPAIGN_NICE:-19}
  local retry_s=${CAMPAIGN_RETRY_S:-120} pass_s=${CAMPAIGN_PASS_S:-600}
  mkdir -p "$runs"
  cd "$root" || exit 1

  # Jobs run from a snapshot of the built packages taken when the driver starts (runs/campaign/app-*),
  # so other work rebuilding or half-editing the working tree cannot break a job that starts later.
  local app=""
  snapshot() {
    local live=(node "$root/packages/cli/bin/resnet.js")
    if ! "${live[@]}" lab --help >/dev/null 2>&1 || ! "${live[@]}" train --help >/dev/null 2>&1 ||
      ! node -e "require('@resnet-ts/lab'); require('@resnet-ts/plot')" >/dev/null 2>&1; then
      app=$(ls -d "$runs"/app-* 2>/dev/null | tail -n 1)
      say "the working tree's build does not load; using the previous snapshot ${app:-(none)}"
      [ -n "$app" ]
      return
    fi
    local new
    new=$runs/app-$(date -u +%Y%m%dT%H%M%SZ)
    mkdir -p "$new/packages" "$new/node_modules/@resnet-ts"
    tar -C "$root/packages" --exclude=node_modules --exclude=src --exclude=test --exclude='*.tsbuildinfo' -cf - . | tar -C "$new/packages" -xf -
    local e
    for e in "$root"/node_modules/* "$root"/node_modules/.bin; do
      [ "$(basename "$e")" = "@resnet-ts" ] || ln -s "$e" "$new/node_modules/$(basename "$e")"
    done
    for e in "$root"/node_modules/@resnet-ts/*; do
      local target
      target=$(readlink "$e")
      case "$target" in ../../packages/*) ln -s "$target" "$new/node_modules/@resnet-ts/$(basename "$e")" ;; esac
    done
    if ! node "$new/packages/cli/bin/resnet.js" train --help >/dev/null 2>&1; then
      say "snapshot $new does not run; removed"
      rm -rf "$new"
      app=$(ls -d "$runs"/app-* 2>/dev/null | tail -n 1)
      [ -n "$app" ]
      return
    fi
    app=$new
    # Keep the two newest snapshots (an orphaned job may still run from the previous one).
    ls -d "$runs"/app-* | head -n -2 | xargs -r rm -rf
    say "snapshot of the built packages: $app"
  }

  say() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log"; }
  alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
  driver_pid() { [ -f "$pidfile" ] && cat "$pidfile"; }
  local results=${CAMPAIGN_RESULTS:-$root/docs/results}
  collect() { nice -n "$niceness" node scripts/experiments/collect.cjs --runs "$runs" --results "$results" ${app:+--app "$app"} "$@" >>"$log" 2>&1 || say "collect failed (see above)"; }
  # The last checkpointed step of a training run (0 when none), from its log of finished epochs and
  # the checkpoint's mtime: only used to tell "made progress" from "failed at start".
  progress() { stat -c %Y "$1/checkpoint.safetensors" 2>/dev/null || echo 0; }

  run_job() {
    local id=$1 needs=$2 cmd=$3
    local dir=$runs/$id
    mkdir -p "$dir"
    [ -f "$dir/.done" ] && return 0
    if [ "$needs" != "-" ]; then
      local n
      for n in ${needs//,/ }; do
        if [ ! -f "$runs/$n/.done" ]; then say "$id: waits for $n"; return 2; fi
        if [ -f "$runs/$n/.restored" ]; then
          say "$id: needs $n's weights, which the sitting that trained it did not keep; to train it again, remove its entry from docs/results/campaign-ledger.json and delete $runs/$n"
          return 2
        fi
      done
    fi
    local failures
    failures=$(cat "$dir/.failures" 2>/dev/null || echo 0)
    if [ "$failures" -ge 5 ]; then
      say "$id: skipped after $failures failed starts (see $dir/job.log; 'campaign.sh retry $id' after fixing it)"
      return 4
    fi
    # Another process (e.g. a driver killed without its child) still trains here: wait for it.
    local owner
    while owner=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$dir/.resnet-run.lock" 2>/dev/null) && alive "$owner"; do
      say "$id: run folder held by process $owner; waiting"
      sleep 300
    done
    local args=${cmd//\{runs\}/$runs}
    local extra=""
    if [ "${args%% *}" = "train" ]; then
      if [ -f "$dir/checkpoint.safetensors" ]; then extra="--resume"; else extra="--force"; fi
      args="$args --out $dir $extra"
    fi
    printf 'resnet %s\n' "${cmd//\{runs\}/runs\/campaign}" >"$dir/command.txt"
    local before
    before=$(progress "$dir")
    say "$id: start: resnet $args"
    # shellcheck disable=SC2086 # the job line is a list of words
    nice -n "$niceness" node "$app/packages/cli/bin/resnet.js" $args >>"$dir/job.log" 2>&1 &
    local child=$!
    echo "$child" >"$runs/current.pid"
    wait "$child"
    local rc=$?
    rm -f "$runs/current.pid"
    if [ "$rc" -eq 0 ]; then
      touch "$dir/.done"
      rm -f "$dir/.failures"
      say "$id: done"
      collect
      return 0
    fi
    if [ -f "$runs/STOP" ]; then
      say "$id: stopped (exit $rc); resumes on the next start"
      return 3
    fi
    if [ "$(progress "$dir")" != "$before" ]; then
      echo 0 >"$dir/.failures"
    else
      echo $((failures + 1)) >"$dir/.failures"
    fi
    say "$id: exited with $rc ($(tail -n 1 "$dir/job.log" | cut -c1-300)); retrying in ${retry_s} s"
    sleep "$retry_s"
    return 1
  }

  run_all() {
    if alive "$(driver_pid)" && [ "$(driver_pid)" != "$$" ]; then
      echo "campaign already running (driver pid $(driver_pid)); log: $log" >&2
      exit 1
    fi
    echo $$ >"$pidfile"
    rm -f "$runs/STOP"
    trap 'rm -f "$pidfile"' EXIT
    say "driver $$ started (nice $niceness, runs in $runs)"
    snapshot || { say "driver $$ ends: no working build to run the jobs with"; exit 1; }
    collect --restore # jobs finished in earlier sittings (docs/results/campaign-ledger.json)
    collect
    while :; do
      local pending=0 progressed=0 attempted=0 line id needs cmd rc
      local -a lines=()
      mapfile -t lines < <(grep -v '^\s*#' "$jobs_file" | grep -v '^\s*$')
      for line in "${lines[@]}"; do
        id=$(echo "${line%%|*}" | xargs)
        needs=$(echo "$line" | cut -d'|' -f2 | xargs)
        cmd=$(echo "$line" | cut -d'|' -f3- | xargs)
        [ -f "$runs/$id/.done" ] && continue
        run_job "$id" "$needs" "$cmd"
        rc=$?
        [ "$rc" -eq 3 ] && { say "driver $$ stopped"; exit 0; }
        [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] && attempted=1
        # Restart the pass after every finished job: earlier (higher-priority) jobs that failed get another try.
        [ "$rc" -eq 0 ] && { progressed=1; break; }
      done
      for line in "${lines[@]}"; do
        id=$(echo "${line%%|*}" | xargs)
        [ -f "$runs/$id/.done" ] || pending=$((pending + 1))
      done
      if [ "$pending" -eq 0 ]; then say "all jobs done"; collect; exit 0; fi
      if [ "$attempted" -eq 0 ]; then
        say "driver $$ ends: $pending job(s) left, each failed too often or waits for one that did (see above)"
        collect
        exit 1
      fi
      if [ "$progressed" -eq 0 ]; then
        # Nothing could run (failed or waiting jobs only): try again later rather than spin.
        say "$pending job(s) pending, none could run; next pass in ${pass_s} s"
        sleep "$pass_s"
      fi
    done
  }

  case "${1:-status}" in
    run) run_all ;;
    start)
      if alive "$(driver_pid)"; then echo "campaign already running (driver pid $(driver_pid)); log: $log"; exit 0; fi
      setsid nohup "$0" run >/dev/null 2>&1 </dev/null &
      sleep 1
      echo "campaign started (driver pid $(driver_pid)); log: $log; status: $0 status"
      ;;
    stop)
      touch "$runs/STOP"
      [ -f "$runs/current.pid" ] && kill -INT "$(cat "$runs/current.pid")" 2>/dev/null
      echo "asked the running job to checkpoint and stop; the driver exits after it ($log)"
      ;;
    retry)
      rm -f "$runs/${2:?job id}/.failures"
      echo "cleared the failures of $2"
      ;;
    status)
      if alive "$(driver_pid)"; then echo "driver running: pid $(driver_pid), job pid $(cat "$runs/current.pid" 2>/dev/null || echo -)"; else echo "driver not running (start: $0 start)"; fi
      app=$(ls -d "$runs"/app-* 2>/dev/null | tail -n 1)
      node scripts/experiments/collect.cjs --runs "$runs" --results "$results" ${app:+--app "$app"} --print
      echo "--- last lines of $log"
      tail -n 5 "$log" 2>/dev/null
      ;;
    *) echo "usage: $0 start|status|stop|retry ID|run" >&2; exit 2 ;;
  esac
}
main "$@"
exit
