# plot.gp - zapbench's cost per call against live mappings, without and
# with the shim, at both shapes of live mappings, one panel per path.  Run by run.sh:
#   gnuplot -e "datafile='results.dat'; outfile='plot.png'" plot.gp
# results.dat holds one block (gnuplot index) per path, in the order of the
# titles below; rows: live anon_without anon_with mixed_without mixed_with
# (NaN where not measured; the mixed shape's 0 is the anon measurement).
if (!exists("datafile")) datafile = 'results.dat'
if (!exists("outfile")) outfile = 'plot.png'

array T[9] = [ \
  "mmap+munmap 4 KiB anon", \
  "mmap+munmap 64 KiB anon", \
  "touch+DONTNEED 4 KiB anon", \
  "same, 2 threads (per thread)", \
  "touch+REMOVE 4 KiB memfd (pass-through)", \
  "touch+DONTNEED 4 KiB memfd (bare: REMOVE)", \
  "touch+DONTNEED 2 MiB hugetlbfs (bare: REMOVE)", \
  "4 threads: mmap+touch+DONTNEED+munmap (per round per thread)", \
  "DONTNEED 4 KiB not resident (info)" ]

set terminal pngcairo size 1800,1300 font "sans,9"
set output outfile
set multiplot layout 3,3 title "zapshim: ns per call against live mappings (medians; without and with LD\\_PRELOAD=libzapshim.so; anon and mixed live mappings)"
set xlabel "live mappings (evenly spaced)"
set ylabel "ns per call"
set yrange [0:*]
set offsets graph 0.08, graph 0.08, 0, 0
set key bottom right
set grid ytics
do for [i = 1:9] {
  set title T[i] noenhanced
  plot datafile index (i - 1) using 0:2:xtic(1) with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "without (anon)", \
       datafile index (i - 1) using 0:3 with linespoints lw 2 pt 5 lc rgb "#d62728" title "with shim (anon)", \
       datafile index (i - 1) using 0:4 with linespoints lw 1 dt 2 pt 6 lc rgb "#1f77b4" title "without (mixed)", \
       datafile index (i - 1) using 0:5 with linespoints lw 1 dt 2 pt 4 lc rgb "#d62728" title "with shim (mixed)"
}
unset multiplot
