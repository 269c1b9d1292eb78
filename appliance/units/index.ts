export const UNITS_DIR = import.meta.dirname;

export interface UnitFile {
  file: string;
  /** box-absolute destination */
  dest: string;
  /** enabled with systemctl enable */
  enable: boolean;
}

export const UNIT_FILES: readonly UnitFile[] = [
  { file: 'var-lib-rancher.mount', dest: '/etc/systemd/system/var-lib-rancher.mount', enable: true },
  { file: 'var-lib-drydock.mount', dest: '/etc/systemd/system/var-lib-drydock.mount', enable: true },
  { file: 'drydock-firstboot.service', dest: '/etc/systemd/system/drydock-firstboot.service', enable: true },
  { file: 'drydock-banner.service', dest: '/etc/systemd/system/drydock-banner.service', enable: true },
  { file: 'k3s.service', dest: '/etc/systemd/system/k3s.service', enable: true },
  { file: 'drydock-updater.service', dest: '/etc/systemd/system/drydock-updater.service', enable: true },
  { file: 'drydock-signal.service', dest: '/etc/systemd/system/drydock-signal.service', enable: true },
  { file: 'k3s-config.yaml', dest: '/etc/rancher/k3s/config.yaml', enable: false },
];

/** Only on a box whose cluster is the stand-in (40-box-init.sh): the containers run inside the updater. */
export const STANDIN_DROPIN: UnitFile = {
  file: 'drydock-updater-standin.conf',
  dest: '/etc/systemd/system/drydock-updater.service.d/50-standin.conf',
  enable: false,
};
