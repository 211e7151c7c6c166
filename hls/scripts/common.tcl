# Shared settings of the Vitis HLS scripts (sourced by csynth.tcl, cosim.tcl, export.tcl).
# Not run here: no Vitis HLS on these machines (see hls/DESIGN.md).
set script_dir [file dirname [file normalize [info script]]]
set hls_dir    [file dirname $script_dir]
set build_dir  [file join $script_dir build]
set part       xczu7ev-ffvc1156-2-e
set period     3.333
set top        m3rt_accel
set project    [file join $build_dir m3rt_hls]
# A golden-vector directory for C simulation and co-simulation: M3RT_GOLDEN in the environment
# (made by `m3rt golden`, or by `make synth` in hls/tb for synthetic vectors).
set golden ""
if {[info exists ::env(M3RT_GOLDEN)]} { set golden [file normalize $::env(M3RT_GOLDEN)] }
# M3RT_WEIGHT_MODE=1|2 builds the int8 variant (until the generated profile header decides it).
set defines ""
if {[info exists ::env(M3RT_WEIGHT_MODE)]} { set defines "-DM3RT_WEIGHT_MODE=$::env(M3RT_WEIGHT_MODE)" }
set cflags    "-std=c++14 -I[file join $hls_dir include] $defines"
set tb_cflags "-std=c++14 -I[file join $hls_dir include] -I[file join $hls_dir tb] $defines"
file mkdir $build_dir
