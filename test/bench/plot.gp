# plot.gp - zapbench's cost per call against live mappings, without and
# with the shim, one panel per path.  Run by run.sh:
#   gnuplot -e "datafile='results.dat'; outfile='plot.png'" plot.gp
# results.dat holds one block (gnuplot index) per path, rows: live without with,
# in the order of the titles below.
if (!exists("datafile")) datafile = 'results.dat'
if (!exists("outfile")) outfile = 'plot.png'

array T[8] = [ \
  "mmap+munmap 4 KiB anon", \
  "mmap+munmap 64 KiB anon", \
  "touch+DONTNEED 4 KiB anon (fast path)", \
  "same, 2 threads (per thread)", \
  "touch+REMOVE 4 KiB memfd (pass-through)", \
  "touch+DONTNEED 4 KiB memfd (bare: REMOVE)", \
  "touch+DONTNEED 2 MiB hugetlbfs (bare: REMOVE)", \
  "DONTNEED 4 KiB not resident (info)" ]

set terminal pngcairo size 1800,900 font "sans,9"
set output outfile
set multiplot layout 2,4 title "zapshim: ns per call against live mappings (medians; without and with LD\\_PRELOAD=libzapshim.so)"
set xlabel "live mappings (evenly spaced)"
set ylabel "ns per call"
set yrange [0:*]
set offsets graph 0.08, graph 0.08, 0, 0
set key bottom right
set grid ytics
do for [i = 1:8] {
  set title T[i] noenhanced
  plot datafile index (i - 1) using 0:2:xtic(1) with linespoints lw 2 pt 7 title "without", \
       datafile index (i - 1) using 0:3 with linespoints lw 2 pt 5 title "with shim"
}
unset multiplot
