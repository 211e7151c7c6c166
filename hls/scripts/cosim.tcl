# Vitis HLS: RTL co-simulation of the synthesized m3rt_accel with the same testbench. The RTL calls no
# trace hook, so the testbench runs with --no-trace and checks status, output map and expert count.
#   cd hls && M3RT_GOLDEN=<dir> vitis_hls -f scripts/cosim.tcl      (after csynth.tcl)
# Use a small model (e.g. `make synth` in hls/tb: the micro preset): RTL simulation is slow.
# Not run here: no Vitis HLS on these machines.
source [file join [file dirname [file normalize [info script]]] common.tcl]

if {$golden eq ""} { error "set M3RT_GOLDEN to a golden-vector directory" }
open_project $project
open_solution sol1
cosim_design -rtl verilog -trace_level none -argv "$golden --no-trace"
exit
