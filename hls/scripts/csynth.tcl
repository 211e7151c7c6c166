# Vitis HLS: project, C simulation with the testbench (if M3RT_GOLDEN names a golden-vector directory)
# and C synthesis of m3rt_accel for the ZCU104 (XCZU7EV) at 300 MHz.
#   cd hls && M3RT_GOLDEN=<dir> vitis_hls -f scripts/csynth.tcl
# Not run here: no Vitis HLS on these machines; no synthesis figure exists for this IP.
source [file join [file dirname [file normalize [info script]]] common.tcl]

open_project -reset $project
set_top $top
add_files [file join $hls_dir src m3rt_accel.cpp] -cflags $cflags
add_files -tb [file join $hls_dir tb testbench.cpp] -cflags $tb_cflags
open_solution -reset sol1 -flow_target vivado
set_part $part
create_clock -period $period -name default
config_interface -m_axi_addr64 -m_axi_max_widen_bitwidth 256 -m_axi_alignment_byte_size 32
config_interface -m_axi_latency 64 -m_axi_max_read_burst_length 64 -m_axi_max_write_burst_length 64
config_export -format ip_catalog -rtl verilog -vendor m3rt -library hls -version 1.0

if {$golden ne ""} {
  csim_design -O -argv $golden
} else {
  puts "M3RT_GOLDEN is not set: C simulation skipped"
}
csynth_design
exit
