// A modal confirmation on the native <dialog>: showModal() makes the rest of the page inert and keeps
// keyboard focus inside; Escape cancels; focus goes back to the button that opened it.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const opener = useRef<Element | null>(null);
  const confirmed = useRef(false);

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) {
      opener.current = document.activeElement;
      confirmed.current = false;
      d.showModal();
      cancelRef.current?.focus();
    } else if (!props.open && d.open) {
      d.close();
    }
  }, [props.open]);

  const onClose = () => {
    // after a confirmation the caller moves focus to the progress; otherwise back to the opener
    if (!confirmed.current && opener.current instanceof HTMLElement) opener.current.focus();
    if (props.open && !confirmed.current) props.onCancel();
  };

  return (
    <dialog ref={ref} class="dialog" aria-labelledby="dialog-title" onClose={onClose}>
      <h2 id="dialog-title">{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      <div class="actions">
        <button type="button" ref={cancelRef} onClick={() => ref.current?.close()}>
          Cancel
        </button>
        <button
          type="button"
          class={props.danger ? 'danger' : 'primary'}
          data-confirm
          onClick={() => {
            confirmed.current = true;
            ref.current?.close();
            props.onConfirm();
          }}
        >
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
