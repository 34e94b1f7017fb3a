# ldirectord check-round time vs number of real servers, ours vs 4.12.
#   gnuplot -e "data='rounds.dat'; out='x.png'" benches/plots/check-rounds.gp
# data: "check reals ours_ms real_ms" rows (NaN = not run), from `ldbench table --plot-data`.
set terminal pngcairo size 900,560 font ",10"
set output out
set title "ldirectord: one check round (all reals checked once), checkinterval 1, loopback"
set xlabel "real servers"
set ylabel "round time, ms (median)"
set logscale xy
set grid
set key top left
set datafile missing "NaN"
plot data using (strcol(1) eq "connect" ? $2 : NaN):3 skip 1 with linespoints pt 7 title "ours, connect", \
     data using (strcol(1) eq "connect" ? $2 : NaN):4 skip 1 with linespoints pt 5 title "ldirectord 4.12, connect", \
     data using (strcol(1) eq "negotiate" ? $2 : NaN):3 skip 1 with linespoints pt 9 title "ours, negotiate (http)", \
     data using (strcol(1) eq "negotiate" ? $2 : NaN):4 skip 1 with linespoints pt 11 title "ldirectord 4.12, negotiate (http)"
