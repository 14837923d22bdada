// Menus as the test sees them, shared by the double (electron.cjs) and the real-Electron probe (probe.cjs).
'use strict';

/** label, type, enabled, checked (and submenus) of every item: what the user sees. */
const describeMenu = (menu) => (menu?.items ?? []).map((i) => ({ label: i.label, type: i.type, enabled: i.enabled, checked: i.checked, submenu: i.submenu ? describeMenu(i.submenu) : undefined }));

/** The item with this label, searched through submenus. */
function findItem(menu, label) {
  for (const i of menu?.items ?? []) {
    if (i.label === label) return i;
    const sub = i.submenu && findItem(i.submenu, label);
    if (sub) return sub;
  }
  return undefined;
}

module.exports = { describeMenu, findItem };
