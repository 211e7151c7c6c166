# Vitis HLS: export the synthesized m3rt_accel as an IP catalog entry (m3rt:hls:m3rt_accel:1.0) into
# hls/scripts/build/ip (and solution/impl/ip, which scripts/vivado_bd.tcl uses).
#   cd hls && vitis_hls -f scripts/export.tcl      (after csynth.tcl)
# Not run here: no Vitis HLS on these machines.
source [file join [file dirname [file normalize [info script]]] common.tcl]

open_project $project
open_solution sol1
export_design -format ip_catalog -rtl verilog -vendor m3rt -library hls -version 1.0 \
  -display_name "M3RT M3ViT accelerator" -description "Fixed-point M3ViT encoder and task head, DDR to DDR" \
  -output [file join $build_dir ip m3rt_accel.zip]
exit
