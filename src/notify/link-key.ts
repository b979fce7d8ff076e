// The key click links are signed with: a stored secret, sealed under the master key like the others, so that a
// master key rotation seals it again and links already sent keep working (docs/notifications.md, "Tracked links").
import { createHmac } from 'node:crypto';
import { MasterKeyMismatchError } from '../crypto/master-key.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import type { Store } from '../store/store.ts';

/** A setting whose key ends in `_sealed` holds a sealed value: a rotation seals it again (store/sealed-values.ts). */
export const LINK_KEY_SETTING = 'notify.link_key_sealed';

/**
 * The stored link key; at the first start without one, the key every version before it derived from the master
 * key at each start, so that links sent before the upgrade still verify. New databases take it too: one rule for
 * both, and a process of the previous version on the same database during an upgrade signs with that key as well.
 * Processes starting at once each insert it unless present and then all read back the one stored.
 */
export async function loadLinkKey(store: Store, box: SecretBox, masterKey: Buffer): Promise<Buffer> {
  let sealed = await store.settings.get(LINK_KEY_SETTING);
  if (sealed === null) {
    const derived = createHmac('sha256', masterKey).update('botgate click links').digest();
    await store.settings.setIfAbsent(LINK_KEY_SETTING, box.seal(derived.toString('base64')));
    sealed = await store.settings.get(LINK_KEY_SETTING);
    if (sealed === null) throw new Error(`the click link key (setting ${LINK_KEY_SETTING}) was stored but cannot be read back`);
  }
  try {
    return Buffer.from(box.open(sealed), 'base64');
  } catch {
    // Stored by a process with another key (the key check passed): refused at start in one line, as another key is.
    throw new MasterKeyMismatchError(`the click link key (setting ${LINK_KEY_SETTING}) does not open under this master key: a process with another key stored it`);
  }
}
