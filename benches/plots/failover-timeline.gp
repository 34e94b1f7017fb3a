# The demo's failover timeline: every client request on the VIP, by who
# answered it, with the milestones as dashed lines.
#   gnuplot -e "data='PREFIX'; out='x.png'" benches/plots/failover-timeline.gp
# PREFIX.dat / PREFIX.gpinc are written by `hademo --samples PREFIX`.
set terminal pngcairo size 1400,520 font ",9"
set output out
set title "hademo: client GET http://VIP/ every 100 ms: who answered (power-off of node1 at the first 'powered off' line)"
set xlabel "seconds since the demo started"
set grid xtics
set key off
load data.'.gpinc'
plot data.'.dat' using 1:2:($2+1) with points pt 7 ps 0.6 lc variable
