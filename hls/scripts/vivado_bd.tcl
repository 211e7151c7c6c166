# Vivado: a ZCU104 block design around the exported m3rt_accel IP, its bitstream and the XSA.
#   Zynq UltraScale+ PS (ZCU104 board preset), PL clock 0 at 300 MHz;
#   M_AXI_HPM0_FPD -> SmartConnect -> the IP's AXI-Lite `control` (at 0xA000_0000, 64 KiB);
#   the IP's m_axi gmem0 (weights) -> SmartConnect -> S_AXI_HP0_FPD, gmem1 (everything else) ->
#   SmartConnect -> S_AXI_HP1_FPD, both into the PS DDR; the IP's interrupt -> pl_ps_irq0.
#   cd hls && vivado -mode batch -source scripts/vivado_bd.tcl      (after csynth.tcl and export.tcl)
# Not run here: no Vivado on these machines; no timing or resource figure exists for this design.
set script_dir [file dirname [file normalize [info script]]]
set hls_dir    [file dirname $script_dir]
set build_dir  [file join $script_dir build]
set ip_repo    [file join $build_dir m3rt_hls sol1 impl ip]
if {[info exists ::env(M3RT_IP_REPO)]} { set ip_repo [file normalize $::env(M3RT_IP_REPO)] }
set proj_dir   [file join $build_dir vivado]
set jobs 2

create_project -force m3rt_zcu104 $proj_dir -part xczu7ev-ffvc1156-2-e
set board [lindex [lsort [get_board_parts -quiet *zcu104*]] end]
if {$board ne ""} { set_property board_part $board [current_project] }
set_property ip_repo_paths [list $ip_repo] [current_project]
update_ip_catalog -rebuild

create_bd_design m3rt
# --- Processing system -------------------------------------------------------------------------------
set ps [create_bd_cell -type ip -vlnv [lindex [get_ipdefs -all xilinx.com:ip:zynq_ultra_ps_e:*] end] zynq_ps]
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
set_property -dict [list \
  CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__MAXIGP0__DATA_WIDTH {128} \
  CONFIG.PSU__USE__M_AXI_GP1 {0} CONFIG.PSU__USE__M_AXI_GP2 {0} \
  CONFIG.PSU__USE__S_AXI_GP2 {1} CONFIG.PSU__SAXIGP2__DATA_WIDTH {128} \
  CONFIG.PSU__USE__S_AXI_GP3 {1} CONFIG.PSU__SAXIGP3__DATA_WIDTH {128} \
  CONFIG.PSU__USE__IRQ0 {1} \
  CONFIG.PSU__FPGA_PL0_ENABLE {1} CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {300} \
] $ps

# --- The accelerator, reset, interconnect ------------------------------------------------------------
set accel [create_bd_cell -type ip -vlnv m3rt:hls:m3rt_accel:1.0 accel]
set rst [create_bd_cell -type ip -vlnv [lindex [get_ipdefs -all xilinx.com:ip:proc_sys_reset:*] end] rst_pl0]
set sc_vlnv [lindex [get_ipdefs -all xilinx.com:ip:smartconnect:*] end]
foreach name {sc_ctrl sc_gmem0 sc_gmem1} {
  set sc [create_bd_cell -type ip -vlnv $sc_vlnv $name]
  set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $sc
}

set clk [get_bd_pins zynq_ps/pl_clk0]
connect_bd_net $clk [get_bd_pins accel/ap_clk] [get_bd_pins rst_pl0/slowest_sync_clk] \
  [get_bd_pins sc_ctrl/aclk] [get_bd_pins sc_gmem0/aclk] [get_bd_pins sc_gmem1/aclk] \
  [get_bd_pins zynq_ps/maxihpm0_fpd_aclk] [get_bd_pins zynq_ps/saxihp0_fpd_aclk] \
  [get_bd_pins zynq_ps/saxihp1_fpd_aclk]
connect_bd_net [get_bd_pins zynq_ps/pl_resetn0] [get_bd_pins rst_pl0/ext_reset_in]
connect_bd_net [get_bd_pins rst_pl0/peripheral_aresetn] [get_bd_pins accel/ap_rst_n] \
  [get_bd_pins sc_ctrl/aresetn] [get_bd_pins sc_gmem0/aresetn] [get_bd_pins sc_gmem1/aresetn]

connect_bd_intf_net [get_bd_intf_pins zynq_ps/M_AXI_HPM0_FPD] [get_bd_intf_pins sc_ctrl/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_ctrl/M00_AXI] [get_bd_intf_pins accel/s_axi_control]
connect_bd_intf_net [get_bd_intf_pins accel/m_axi_gmem0] [get_bd_intf_pins sc_gmem0/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_gmem0/M00_AXI] [get_bd_intf_pins zynq_ps/S_AXI_HP0_FPD]
connect_bd_intf_net [get_bd_intf_pins accel/m_axi_gmem1] [get_bd_intf_pins sc_gmem1/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins sc_gmem1/M00_AXI] [get_bd_intf_pins zynq_ps/S_AXI_HP1_FPD]
connect_bd_net [get_bd_pins accel/interrupt] [get_bd_pins zynq_ps/pl_ps_irq0]

# --- Address map -----------------------------------------------------------------------------------------
# The control registers at the bottom of the HPM0 FPD window; both masters see the PS DDR (low 2 GiB and
# the high window), as the host hands the IP physical DDR addresses.
assign_bd_address -offset 0xA0000000 -range 64K -target_address_space [get_bd_addr_spaces zynq_ps/Data] \
  [get_bd_addr_segs accel/s_axi_control/Reg] -force
assign_bd_address
validate_bd_design
save_bd_design

# --- Bitstream and hardware platform -------------------------------------------------------------------
set bd_file [get_files m3rt.bd]
generate_target all $bd_file
set wrapper [make_wrapper -files $bd_file -top]
add_files -norecurse $wrapper
set_property top m3rt_wrapper [current_fileset]
update_compile_order -fileset sources_1
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} { error "implementation did not complete" }
write_hw_platform -fixed -include_bit -force -file [file join $build_dir m3rt_zcu104.xsa]
puts "bitstream and XSA in $build_dir"
