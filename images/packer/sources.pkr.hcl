# Two sources, one build: the local qemu source makes the golden disk (OVA, raw for the AMI upload);
# the amazon-ebs source runs the very same provisioners on an EC2 instance for teams that bake in AWS.

source "qemu" "appliance" {
  disk_image           = true
  iso_url              = var.base_disk
  iso_checksum         = var.base_disk_checksum
  use_backing_file     = false
  skip_compaction      = true
  format               = "qcow2"
  disk_size            = var.disk_size
  disk_interface       = "virtio"
  net_device           = "virtio-net"
  accelerator          = var.accelerator
  cpus                 = var.cpus
  memory               = var.memory_mb
  headless             = true
  output_directory     = var.output_dir
  vm_name              = "${var.name}-${var.version}.qcow2"
  communicator         = "ssh"
  ssh_username         = var.build_user
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "30m"
  boot_wait            = "1s"
  # the seal script is uploaded by the build; it removes the build user, then powers off
  shutdown_command = "sudo /bin/sh /tmp/drydock-seal.sh --poweroff"
  shutdown_timeout = "10m"
  # two disks: naming -drive here replaces Packer's own drive argument, so the golden disk is listed too;
  # the data disk (ext4 "drydock-data") is written by the provisioners and ships beside it
  qemuargs = [
    ["-serial", "file:${var.console_log}"],
    ["-drive", "file=${var.output_dir}/${var.name}-${var.version}.qcow2,if=virtio,cache=writeback,discard=unmap,format=qcow2"],
    ["-drive", "file=${var.data_disk},if=virtio,cache=writeback,discard=unmap,format=qcow2"],
  ]
}

source "amazon-ebs" "appliance" {
  region        = var.aws_region
  instance_type = var.aws_instance_type
  ami_name      = "${var.name}-${var.version}-{{timestamp}}"
  ena_support   = true
  ssh_username  = var.aws_ssh_username
  encrypt_boot  = true

  source_ami_filter {
    filters = {
      name                = var.aws_source_ami_name
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = [var.aws_source_ami_owner]
    most_recent = true
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.aws_root_volume_gb
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }

  tags = {
    Name    = var.name
    Version = var.version
    Builder = "drydock"
  }
}
