# The appliance build: upload the staged payload, run appliance/provision in order, seal.
build {
  name    = "drydock"
  sources = ["source.qemu.appliance", "source.amazon-ebs.appliance"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/drydock-payload"]
  }

  provisioner "file" {
    source      = "${var.payload_dir}/"
    destination = "/tmp/drydock-payload"
  }

  provisioner "file" {
    source      = "${path.root}/${var.seal_script}"
    destination = "/tmp/drydock-seal.sh"
  }

  provisioner "shell" {
    scripts = var.provision_scripts
    environment_vars = [
      "DRYDOCK_PAYLOAD=/tmp/drydock-payload",
      "DRYDOCK_NAME=${var.name}",
      "DRYDOCK_VERSION=${var.version}",
      "DRYDOCK_CLUSTER=${var.cluster}",
      "DEBIAN_FRONTEND=noninteractive",
    ]
    execute_command = "chmod +x {{ .Path }}; sudo -E env {{ .Vars }} {{ .Path }}"
  }

  # on EC2 Packer stops the instance through the API, so the seal runs as a provisioner there;
  # the qemu source runs it as its shutdown command (above)
  provisioner "shell" {
    only   = ["amazon-ebs.appliance"]
    inline = ["sudo DRYDOCK_BUILD_USER=${var.aws_ssh_username} /bin/sh /tmp/drydock-seal.sh"]
  }
}
