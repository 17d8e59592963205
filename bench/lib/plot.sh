#!/usr/bin/env bash
# plot.sh: turns a bench's CSV into a PNG bar chart with gnuplot, one group of
# bars per row and one bar per series (kernel, xlane, ...), so every bench
# plots the same way and README can embed the result.
#
#   bench/lib/plot.sh CSV PNG TITLE YLABEL [--log] [--note TEXT]
#
# CSV: a header "group,series1,series2,..." then one row per group, e.g.
#   percentile,kernel,xlane          message size,kernel,xlane
#   p50,6.25,3.62                    64 B,56.1,53.7
# Empty cells (a run that produced no number) are left out of the chart.
# --log: logarithmic y axis (latency tails). --note: a line under the title
# (machine, kernel, rounds). Needs gnuplot (scripts/deps installs gnuplot-nox).
set -euo pipefail

usage() { echo "usage: plot.sh CSV PNG TITLE YLABEL [--log] [--note TEXT]" >&2; exit 2; }
[ $# -ge 4 ] || usage
csv="$1" png="$2" title="$3" ylabel="$4"
shift 4
log=0 note=""
while [ $# -gt 0 ]; do
    case "$1" in
        --log) log=1; shift ;;
        --note) [ $# -ge 2 ] || usage; note="$2"; shift 2 ;;
        *) usage ;;
    esac
done
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed (scripts/deps)" >&2; exit 1; }
[ -r "$csv" ] || { echo "plot.sh: cannot read $csv" >&2; exit 1; }
series=$(($(head -1 "$csv" | awk -F, '{print NF}') - 1))
[ "$series" -ge 1 ] || { echo "plot.sh: $csv: no series columns in the header" >&2; exit 1; }

# gnuplot strings are double-quoted: escape what the shell hands over.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
full_title="$title"
[ -n "$note" ] && full_title="$title\\n{/*0.8 $note}"

gnuplot <<GNUPLOT
set terminal pngcairo size 960,540 font "sans,11" enhanced
set output $(quote "$png")
set datafile separator ","
set datafile missing ""
set key autotitle columnhead
set title "$(printf '%s' "$full_title" | sed 's/"/\\"/g')"
set ylabel $(quote "$ylabel")
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set grid ytics lc rgb "#dddddd"
set yrange [0:*]
$( [ "$log" = 1 ] && printf 'set logscale y\nset yrange [*:*]\n' )
set xtics nomirror
set ytics nomirror
set linetype 1 lc rgb "#7f7f7f"
set linetype 2 lc rgb "#1f77b4"
set linetype 3 lc rgb "#ff7f0e"
set linetype 4 lc rgb "#2ca02c"
# Bars, then each bar's value above it: in a clustered histogram with N series
# and gap 1, bar i of row r is centred at r + (i - (N - 1) / 2) / (N + 1).
N = $series
plot for [i=2:N+1] $(quote "$csv") using i:xtic(1) title columnheader(i), \
     for [i=2:N+1] $(quote "$csv") using (\$0 + (i - 2 - (N - 1) / 2.0) / (N + 1)):i:(sprintf("%.4g", column(i))) \
         with labels offset 0,0.7 font ",9" notitle
GNUPLOT
echo "plot.sh: wrote $png"
