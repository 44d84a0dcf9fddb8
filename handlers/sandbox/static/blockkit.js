// Block Kit for the sandbox page: renders the blocks the bot sends the way Slack shows them,
// and reads modal inputs back in the shape of a view_submission's `state.values`.
// Everything is built as DOM nodes with text content, so no text the bot sends is ever parsed
// as HTML.
(function () {
  "use strict";

  const SUPPORTED_BLOCKS = [
    "section", "header", "divider", "context", "actions", "image", "input", "rich_text",
  ];
  const SUPPORTED_ELEMENTS = [
    "button", "static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes",
    "datepicker", "timepicker", "plain_text_input", "number_input", "image", "plain_text",
    "mrkdwn",
  ];

  // The shortcodes the bot may use; unknown ones stay as typed, as in a Slack without them.
  const EMOJI = {
    white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️",
    calendar: "📆", date: "📅", spiral_calendar_pad: "🗓️", clock9: "🕘", alarm_clock: "⏰",
    hourglass: "⌛", hourglass_flowing_sand: "⏳", bell: "🔔", memo: "📝", pencil: "📝",
    pushpin: "📌", round_pushpin: "📍", bar_chart: "📊", chart_with_upwards_trend: "📈",
    school: "🏫", books: "📚", tada: "🎉", wave: "👋", thumbsup: "👍", "+1": "👍",
    thumbsdown: "👎", "-1": "👎", bulb: "💡", information_source: "ℹ️", question: "❓",
    exclamation: "❗", no_entry: "⛔", no_entry_sign: "🚫", red_circle: "🔴",
    large_green_circle: "🟢", large_yellow_circle: "🟡", large_orange_circle: "🟠",
    large_blue_circle: "🔵", white_circle: "⚪", black_circle: "⚫", email: "📧",
    envelope: "✉️", inbox_tray: "📥", outbox_tray: "📤", page_facing_up: "📄", paperclip: "📎",
    link: "🔗", lock: "🔒", key: "🔑", mag: "🔍", point_right: "👉", rotating_light: "🚨",
    sparkles: "✨", star: "⭐", eyes: "👀", people_holding_hands: "🧑‍🤝‍🧑",
    busts_in_silhouette: "👥", bust_in_silhouette: "👤", speech_balloon: "💬", zap: "⚡",
    arrow_right: "➡️", arrow_forward: "▶️", repeat: "🔁", hand: "✋", raised_hand: "✋",
    heart: "❤️", smile: "😄", slightly_smiling_face: "🙂", thinking_face: "🤔",
  };

  // Slack escapes only these three in message text.
  function decodeEntities(text) {
    return String(text).replace(/&(amp|lt|gt);/g, (_, name) => ({ amp: "&", lt: "<", gt: ">" })[name]);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function asList(value) {
    return Array.isArray(value) ? value : [];
  }

  function emojify(text) {
    return String(text).replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
  }

  function safeUrl(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  function link(href, label) {
    const a = el("a", "bk-link", label);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  // --- mrkdwn -----------------------------------------------------------------------------

  // One alternative per inline construct; the earliest match wins, as Slack's parser does.
  // Formatting marks must sit at word edges ("snake_case_name" stays as it is).
  const INLINE = new RegExp(
    [
      "`([^`\\n]+)`",
      "<([^<>\\n]+)>",
      "(?<![\\w*])\\*(?!\\s)([^*\\n]+?)(?<!\\s)\\*(?![\\w*])",
      "(?<![\\w_])_(?!\\s)([^_\\n]+?)(?<!\\s)_(?![\\w_])",
      "(?<![\\w~])~(?!\\s)([^~\\n]+?)(?<!\\s)~(?![\\w~])",
      ":([a-z0-9_+-]+):",
    ].join("|"),
    "g",
  );

  function appendInline(parent, raw, ctx) {
    let last = 0;
    // matchAll scans a copy of the pattern, so the recursion for nested styles is safe.
    for (const m of raw.matchAll(INLINE)) {
      if (m.index > last) parent.append(decodeEntities(raw.slice(last, m.index)));
      parent.append(inlineToken(m, ctx));
      last = m.index + m[0].length;
    }
    if (last < raw.length) parent.append(decodeEntities(raw.slice(last)));
  }

  function inlineToken(m, ctx) {
    if (m[1] !== undefined) return el("code", "bk-code", decodeEntities(m[1]));
    if (m[2] !== undefined) return angle(m[2], ctx);
    const styles = [[3, "b", "bk-bold"], [4, "i", "bk-italic"], [5, "s", "bk-strike"]];
    for (const [group, tag, cls] of styles) {
      if (m[group] !== undefined) {
        const node = el(tag, cls);
        appendInline(node, m[group], ctx);
        return node;
      }
    }
    const emoji = EMOJI[m[6]];
    return emoji ? el("span", "bk-emoji", emoji) : document.createTextNode(m[0]);
  }

  // <@U…>, <#C…|name>, <!here>, <url|label>.
  function angle(body, ctx) {
    const bar = body.indexOf("|");
    const target = bar >= 0 ? body.slice(0, bar) : body;
    const label = bar >= 0 ? decodeEntities(body.slice(bar + 1)) : null;
    if (target.startsWith("@")) {
      const id = target.slice(1);
      return el("span", "bk-mention", "@" + (personName(ctx, id) || label || id));
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      return el("span", "bk-mention bk-channel", "#" + (label || channelName(ctx, id) || id));
    }
    if (target.startsWith("!")) return special(target.slice(1), label);
    const url = safeUrl(decodeEntities(target));
    if (!url) {
      // Not a link Slack would make: show what was written rather than lose it.
      const looksLikeUrl = /^[a-z][a-z0-9+.-]*:/i.test(target);
      return document.createTextNode(label || (looksLikeUrl ? decodeEntities(target) : `<${decodeEntities(body)}>`));
    }
    return link(url, label || url.replace(/^mailto:/i, ""));
  }

  function special(name, label) {
    if (["here", "channel", "everyone"].includes(name)) return el("span", "bk-mention", "@" + name);
    if (name.startsWith("subteam^")) return el("span", "bk-mention", label || "@group");
    return document.createTextNode(label || name);
  }

  function personName(ctx, id) {
    if (ctx && ctx.botUserId && id === ctx.botUserId) return ctx.botName || "SLIS Bot";
    const people = (ctx && ctx.people) || [];
    const found = people.find((p) => p.user_id === id);
    return found ? found.name : null;
  }

  function channelName(ctx, id) {
    const found = ((ctx && ctx.channels) || []).find((c) => c.id === id);
    return found ? found.name : null;
  }

  // Slack keeps quotes whether written as ">" or as the escaped "&gt;" it stores.
  const QUOTE = /^(?:>|&gt;) ?/;

  function appendLines(parent, raw, ctx) {
    const lines = raw.split("\n");
    let i = 0;
    while (i < lines.length) {
      if (QUOTE.test(lines[i])) {
        const quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) quoted.push(lines[i++].replace(QUOTE, ""));
        const quote = el("blockquote", "bk-quote");
        appendLines(quote, quoted.join("\n"), ctx);
        parent.append(quote);
        continue;
      }
      appendInline(parent, lines[i], ctx);
      i += 1;
      if (i < lines.length && !QUOTE.test(lines[i])) parent.append(el("br"));
    }
  }

  function renderMrkdwn(text, ctx) {
    const root = el("div", "bk-mrkdwn");
    const raw = String(text === undefined || text === null ? "" : text);
    const parts = raw.split("```");
    parts.forEach((part, index) => {
      // Odd parts sat between ``` fences; an unclosed fence stays as text.
      const fenced = index % 2 === 1 && index < parts.length - 1;
      if (fenced) {
        root.append(el("pre", "bk-pre", decodeEntities(part.replace(/^\n/, ""))));
      } else {
        appendLines(root, index % 2 === 1 ? "```" + part : part, ctx);
      }
    });
    return root;
  }

  // --- text objects -----------------------------------------------------------------------

  function renderText(obj, ctx, className) {
    if (typeof obj === "string") return el("span", className, obj);
    if (!isObject(obj)) return el("span", className, "");
    if (obj.type === "mrkdwn") {
      const node = renderMrkdwn(obj.text, ctx);
      if (className) node.classList.add(className);
      node.dataset.elementType = "mrkdwn";
      return node;
    }
    if (obj.type && obj.type !== "plain_text") return unsupported("element", obj.type);
    const text = String(obj.text === undefined ? "" : obj.text);
    const node = el("span", className, obj.emoji === false ? text : emojify(text));
    node.dataset.elementType = "plain_text";
    return node;
  }

  function plainOf(obj) {
    if (!isObject(obj)) return typeof obj === "string" ? obj : "";
    const text = String(obj.text === undefined ? "" : obj.text);
    return obj.type === "mrkdwn" ? decodeEntities(text) : emojify(text);
  }

  function unsupported(kind, type) {
    type = type === undefined || type === null || type === "" ? "unknown" : type;
    const node = el("div", "bk-unsupported",
      (kind === "block" ? "Unsupported block: " : "Unsupported element: ") + String(type));
    node.dataset[kind === "block" ? "blockType" : "elementType"] = String(type);
    node.setAttribute("role", "note");
    return node;
  }

  // --- dialogs ----------------------------------------------------------------------------

  // A small page dialog resolving to true (confirmed) or false; Escape or the backdrop deny.
  function askConfirm(opts) {
    return new Promise((resolve) => {
      const backdrop = el("div", "bk-confirm-backdrop");
      const box = el("div", "bk-confirm");
      box.dataset.testid = opts.testid || "confirm";
      box.setAttribute("role", "alertdialog");
      box.setAttribute("aria-modal", "true");
      const title = el("h2", "bk-confirm-title", opts.title || "Are you sure?");
      title.id = "bk-confirm-title-" + Math.random().toString(36).slice(2);
      box.setAttribute("aria-labelledby", title.id);
      const body = opts.body instanceof Node ? opts.body : el("p", "bk-confirm-text", opts.body || "");
      const row = el("div", "bk-confirm-buttons");
      const deny = el("button", "bk-button", opts.deny || "Cancel");
      deny.type = "button";
      deny.dataset.testid = opts.denyTestid || "confirm-deny";
      const ok = el("button", "bk-button " + (opts.style === "danger" ? "bk-danger" : "bk-primary"),
        opts.confirm || "Yes");
      ok.type = "button";
      ok.dataset.testid = opts.confirmTestid || "confirm-ok";
      row.append(deny, ok);
      box.append(title, body, row);
      backdrop.append(box);
      const previous = document.activeElement;
      const finish = (answer) => {
        document.removeEventListener("keydown", onKey, true);
        backdrop.remove();
        if (previous && previous.focus && previous.isConnected) previous.focus();
        resolve(answer);
      };
      const onKey = (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          finish(false);
        }
      };
      deny.addEventListener("click", () => finish(false));
      ok.addEventListener("click", () => finish(true));
      backdrop.addEventListener("click", (event) => { if (event.target === backdrop) finish(false); });
      document.addEventListener("keydown", onKey, true);
      document.body.append(backdrop);
      ok.focus();
    });
  }

  function confirmFor(element, ctx) {
    const c = element.confirm;
    if (!isObject(c)) return Promise.resolve(true);
    return askConfirm({
      title: plainOf(c.title) || "Are you sure?",
      body: renderText(c.text || "", ctx, "bk-confirm-text"),
      confirm: plainOf(c.confirm) || "Yes",
      deny: plainOf(c.deny) || "Cancel",
      style: c.style,
    });
  }

  // --- actions ----------------------------------------------------------------------------

  // Sends an action through ctx, keeping `busy` disabled until the bot has had it.
  function dispatch(ctx, block, element, extra, busy) {
    if (!ctx || typeof ctx.onAction !== "function") return;
    const payload = Object.assign({
      block_id: block.block_id || "",
      action_id: element.action_id || "",
      type: element.type,
    }, extra);
    if (busy) busy.disabled = true;
    Promise.resolve()
      .then(() => ctx.onAction(payload, busy))
      .catch(() => {})
      .finally(() => { if (busy) busy.disabled = false; });
  }

  function cleanOption(option) {
    const out = { text: option.text, value: option.value };
    if (option.description) out.description = option.description;
    return out;
  }

  // --- elements ---------------------------------------------------------------------------

  // Reads an input element's value as Slack puts it in state.values; set by each input renderer.
  const readers = new WeakMap();
  // Checks an input element as Slack's client does before a submission; returns a message or null.
  const checkers = new WeakMap();

  let uid = 0;
  function nextId(prefix) {
    uid += 1;
    return prefix + uid;
  }

  function renderButton(element, block, ctx) {
    const button = el("button", "bk-button");
    button.type = "button";
    if (element.style === "primary") button.classList.add("bk-primary");
    if (element.style === "danger") button.classList.add("bk-danger");
    button.append(renderText(element.text || "", ctx, "bk-button-text"));
    if (element.accessibility_label) button.setAttribute("aria-label", element.accessibility_label);
    const url = element.url ? safeUrl(element.url) : null;
    button.addEventListener("click", async () => {
      if (!(await confirmFor(element, ctx))) return;
      if (url) window.open(url, "_blank", "noopener");
      const extra = element.value !== undefined ? { value: element.value } : {};
      dispatch(ctx, block, element, extra, button);
    });
    return button;
  }

  function optionsOf(element) {
    const flat = asList(element.options).filter(isObject);
    for (const group of asList(element.option_groups)) {
      if (isObject(group)) flat.push(...asList(group.options).filter(isObject));
    }
    return flat;
  }

  function sameOption(a, b) {
    return isObject(a) && isObject(b) && a.value === b.value;
  }

  function addOptions(select, element, selected) {
    const make = (option) => {
      const node = el("option", null, plainOf(option.text));
      node.value = String(option.value === undefined ? "" : option.value);
      node.selected = selected.some((s) => sameOption(s, option));
      return node;
    };
    for (const option of asList(element.options).filter(isObject)) select.append(make(option));
    for (const group of asList(element.option_groups).filter(isObject)) {
      const optgroup = el("optgroup");
      optgroup.label = plainOf(group.label);
      for (const option of asList(group.options).filter(isObject)) optgroup.append(make(option));
      select.append(optgroup);
    }
  }

  function renderStaticSelect(element, block, ctx, interactive) {
    const select = el("select", "bk-select");
    const placeholder = el("option", "bk-placeholder", plainOf(element.placeholder) || "Select an item");
    placeholder.value = "";
    placeholder.disabled = true;
    placeholder.selected = !isObject(element.initial_option);
    select.append(placeholder);
    addOptions(select, element, isObject(element.initial_option) ? [element.initial_option] : []);
    const options = optionsOf(element);
    const current = () => {
      const found = options.find((o) => String(o.value) === select.value);
      return found ? cleanOption(found) : null;
    };
    readers.set(select, () => ({ type: element.type, selected_option: current() }));
    if (interactive) {
      select.addEventListener("change", () =>
        dispatch(ctx, block, element, { selected_option: current() }, select));
    }
    return select;
  }

  function renderMultiSelect(element, block, ctx, interactive) {
    const wrap = el("div", "bk-multi");
    const select = el("select", "bk-select bk-multiselect");
    select.multiple = true;
    const options = optionsOf(element);
    select.size = Math.min(Math.max(options.length + asList(element.option_groups).length, 2), 6);
    addOptions(select, element, asList(element.initial_options));
    const max = Number(element.max_selected_items) || 0;
    const note = el("div", "bk-multi-note",
      plainOf(element.placeholder) || (max ? `Choose up to ${max}` : "Choose any"));
    note.setAttribute("aria-hidden", "true");
    const current = () => Array.from(select.selectedOptions)
      .map((node) => options.find((o) => String(o.value) === node.value))
      .filter(Boolean).map(cleanOption);
    readers.set(select, () => ({ type: element.type, selected_options: current() }));
    if (max) {
      checkers.set(select, () => (current().length > max
        ? `Please select no more than ${max} item${max === 1 ? "" : "s"}.` : null));
    }
    if (interactive) {
      select.addEventListener("change", () =>
        dispatch(ctx, block, element, { selected_options: current() }, null));
    }
    wrap.append(select, note);
    readers.set(wrap, readers.get(select));
    if (checkers.has(select)) checkers.set(wrap, checkers.get(select));
    return wrap;
  }

  function renderChoices(element, block, ctx, interactive) {
    const multiple = element.type === "checkboxes";
    const group = el("div", multiple ? "bk-checkboxes" : "bk-radios");
    group.setAttribute("role", multiple ? "group" : "radiogroup");
    const name = nextId("bk-choice-");
    const options = asList(element.options).filter(isObject);
    const initial = multiple ? asList(element.initial_options)
      : (isObject(element.initial_option) ? [element.initial_option] : []);
    const boxes = options.map((option) => {
      const row = el("label", "bk-choice");
      const box = el("input");
      box.type = multiple ? "checkbox" : "radio";
      box.name = name;
      box.value = String(option.value === undefined ? "" : option.value);
      box.checked = initial.some((s) => sameOption(s, option));
      const words = el("span", "bk-choice-words");
      words.append(renderText(option.text || "", ctx, "bk-choice-text"));
      if (option.description) words.append(renderText(option.description, ctx, "bk-choice-description"));
      row.append(box, words);
      group.append(row);
      return box;
    });
    const chosen = () => options.filter((_, i) => boxes[i].checked).map(cleanOption);
    readers.set(group, () => (multiple
      ? { type: element.type, selected_options: chosen() }
      : { type: element.type, selected_option: chosen()[0] || null }));
    if (interactive) {
      group.addEventListener("change", () => dispatch(ctx, block, element,
        multiple ? { selected_options: chosen() } : { selected_option: chosen()[0] || null }, null));
    }
    return group;
  }

  function renderOverflow(element, block, ctx) {
    const wrap = el("div", "bk-overflow");
    const toggle = el("button", "bk-button bk-overflow-toggle", "⋯");
    toggle.type = "button";
    toggle.setAttribute("aria-label", "More actions");
    toggle.setAttribute("aria-haspopup", "menu");
    toggle.setAttribute("aria-expanded", "false");
    const menu = el("div", "bk-overflow-menu");
    menu.setAttribute("role", "menu");
    menu.hidden = true;
    const close = () => {
      menu.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      document.removeEventListener("click", onOutside, true);
    };
    const onOutside = (event) => { if (!wrap.contains(event.target)) close(); };
    for (const option of asList(element.options).filter(isObject)) {
      const item = el("button", "bk-overflow-item", plainOf(option.text));
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.addEventListener("click", async () => {
        close();
        if (!(await confirmFor(element, ctx))) return;
        const url = option.url ? safeUrl(option.url) : null;
        if (url) window.open(url, "_blank", "noopener");
        dispatch(ctx, block, element, { selected_option: cleanOption(option) }, toggle);
      });
      menu.append(item);
    }
    toggle.addEventListener("click", () => {
      if (!menu.hidden) return close();
      menu.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
      document.addEventListener("click", onOutside, true);
    });
    menu.addEventListener("keydown", (event) => { if (event.key === "Escape") { close(); toggle.focus(); } });
    wrap.append(toggle, menu);
    return wrap;
  }

  function renderPicker(element, block, ctx, interactive) {
    const date = element.type === "datepicker";
    const input = el("input", "bk-textinput bk-picker");
    input.type = date ? "date" : "time";
    const initial = date ? element.initial_date : element.initial_time;
    if (typeof initial === "string") input.value = initial;
    if (element.placeholder) input.title = plainOf(element.placeholder);
    const key = date ? "selected_date" : "selected_time";
    const current = () => input.value || null;
    readers.set(input, () => ({ type: element.type, [key]: current() }));
    if (interactive) {
      input.addEventListener("change", () => dispatch(ctx, block, element, { [key]: current() }, null));
    }
    return input;
  }

  function renderTextInput(element, block, ctx, interactive) {
    const input = element.multiline ? el("textarea", "bk-textinput bk-textarea") : el("input", "bk-textinput");
    if (!element.multiline) input.type = "text";
    if (typeof element.initial_value === "string") input.value = element.initial_value;
    if (element.placeholder) input.placeholder = plainOf(element.placeholder);
    const min = Number(element.min_length) || 0;
    const max = Number(element.max_length) || 0;
    readers.set(input, () => ({ type: element.type, value: input.value === "" ? null : input.value }));
    checkers.set(input, () => {
      const length = input.value.length;
      if (!length) return null;
      if (min && length < min) return `Please enter at least ${min} character${min === 1 ? "" : "s"}.`;
      if (max && length > max) return `Please enter no more than ${max} characters (you have ${length}).`;
      return null;
    });
    if (interactive) {
      input.addEventListener("change", () => dispatch(ctx, block, element, { value: input.value }, null));
    }
    return input;
  }

  function renderNumberInput(element, block, ctx, interactive) {
    const input = el("input", "bk-textinput bk-number");
    input.type = "text";
    const decimal = Boolean(element.is_decimal_allowed);
    input.inputMode = decimal ? "decimal" : "numeric";
    if (element.initial_value !== undefined && element.initial_value !== null) {
      input.value = String(element.initial_value);
    }
    if (element.placeholder) input.placeholder = plainOf(element.placeholder);
    readers.set(input, () => ({ type: element.type, value: input.value.trim() === "" ? null : input.value.trim() }));
    checkers.set(input, () => numberProblem(input.value.trim(), element, decimal));
    if (interactive) {
      input.addEventListener("change", () => dispatch(ctx, block, element, { value: input.value.trim() }, null));
    }
    return input;
  }

  function numberProblem(text, element, decimal) {
    if (text === "") return null;
    const pattern = decimal ? /^-?(\d+\.?\d*|\.\d+)$/ : /^-?\d+$/;
    if (!pattern.test(text)) return decimal ? "Please enter a number." : "Please enter a whole number.";
    const value = Number(text);
    const min = element.min_value !== undefined ? Number(element.min_value) : null;
    const max = element.max_value !== undefined ? Number(element.max_value) : null;
    if (min !== null && !Number.isNaN(min) && value < min) return `Please enter a number of ${element.min_value} or more.`;
    if (max !== null && !Number.isNaN(max) && value > max) return `Please enter a number of ${element.max_value} or less.`;
    return null;
  }

  function renderImageElement(element, className) {
    const img = el("img", className || "bk-image-element");
    const url = safeUrl(String(element.image_url || ""));
    if (url) img.src = url;
    img.alt = String(element.alt_text || "");
    img.loading = "lazy";
    return img;
  }

  const ELEMENTS = {
    button: renderButton,
    static_select: renderStaticSelect,
    multi_static_select: renderMultiSelect,
    overflow: renderOverflow,
    radio_buttons: renderChoices,
    checkboxes: renderChoices,
    datepicker: renderPicker,
    timepicker: renderPicker,
    plain_text_input: renderTextInput,
    number_input: renderNumberInput,
    image: (element) => renderImageElement(element),
  };

  function renderElement(element, block, ctx, interactive) {
    if (!isObject(element)) return unsupported("element", typeof element);
    const render = ELEMENTS[element.type];
    let node;
    try {
      node = render ? render(element, block, ctx, interactive) : unsupported("element", element.type);
    } catch (error) {
      console.warn("Block Kit element not rendered:", element.type, error);
      node = unsupported("element", element.type);
    }
    node.dataset.elementType = element.type;
    if (element.action_id) node.dataset.actionId = element.action_id;
    return node;
  }

  // --- blocks -----------------------------------------------------------------------------

  function renderSection(block, ctx) {
    const node = el("div", "bk-section");
    const main = el("div", "bk-section-main");
    if (block.text) main.append(renderText(block.text, ctx, "bk-section-text"));
    const fields = asList(block.fields);
    if (fields.length) {
      const grid = el("div", "bk-fields");
      for (const field of fields) grid.append(renderText(field, ctx, "bk-field"));
      main.append(grid);
    }
    node.append(main);
    if (isObject(block.accessory)) {
      const accessory = el("div", "bk-accessory");
      if (block.accessory.type === "image") accessory.classList.add("bk-accessory-image");
      accessory.append(renderElement(block.accessory, block, ctx, true));
      node.append(accessory);
    }
    return node;
  }

  function renderHeader(block, ctx) {
    const node = el("div", "bk-header");
    node.setAttribute("role", "heading");
    node.setAttribute("aria-level", "3");
    node.append(renderText(block.text || "", ctx));
    return node;
  }

  function renderContext(block, ctx) {
    const node = el("div", "bk-context");
    for (const item of asList(block.elements)) {
      if (isObject(item) && item.type === "image") {
        const img = renderImageElement(item, "bk-context-image");
        img.dataset.elementType = "image";
        node.append(img);
      } else if (isObject(item) && (item.type === "mrkdwn" || item.type === "plain_text")) {
        node.append(renderText(item, ctx, "bk-context-text"));
      } else {
        node.append(unsupported("element", isObject(item) ? item.type : typeof item));
      }
    }
    return node;
  }

  function renderActions(block, ctx) {
    const node = el("div", "bk-actions");
    for (const element of asList(block.elements)) node.append(renderElement(element, block, ctx, true));
    return node;
  }

  function renderImageBlock(block, ctx) {
    const node = el("figure", "bk-image");
    if (block.title) node.append(renderText(block.title, ctx, "bk-image-title"));
    node.append(renderImageElement(block, "bk-image-img"));
    return node;
  }

  function renderInput(block, ctx) {
    const node = el("div", "bk-input");
    // `validate` sees only the DOM.
    node.dataset.optional = block.optional ? "true" : "false";
    const controlId = nextId("bk-input-");
    const label = el("label", "bk-input-label");
    label.htmlFor = controlId;
    label.append(el("span", null, plainOf(block.label)));
    if (block.optional) label.append(el("span", "bk-optional", " (optional)"));
    node.append(label);
    const control = renderElement(block.element, block, ctx, Boolean(block.dispatch_action));
    // A single control takes the label; a group of radios or checkboxes is named by it.
    const single = control.matches("input, select, textarea") ? control
      : control.querySelector(":scope > select");
    label.id = controlId + "-label";
    if (single) {
      single.id = controlId;
    } else {
      label.removeAttribute("for");
      control.setAttribute("aria-labelledby", label.id);
    }
    control.classList.add("bk-control");
    node.append(control);
    const error = el("div", "bk-input-error");
    error.hidden = true;
    error.setAttribute("role", "alert");
    node.append(error);
    if (block.hint) node.append(renderText(block.hint, ctx, "bk-hint"));
    return node;
  }

  // rich_text: sections, lists, quotes and preformatted text with their inline styles.
  function renderRichText(block, ctx) {
    const node = el("div", "bk-rich-text");
    for (const part of asList(block.elements)) node.append(richPart(part, ctx));
    return node;
  }

  function richPart(part, ctx) {
    if (!isObject(part)) return unsupported("element", typeof part);
    switch (part.type) {
      case "rich_text_section": return richInline(el("div", "bk-rt-section"), part.elements, ctx);
      case "rich_text_preformatted": return richInline(el("pre", "bk-pre"), part.elements, ctx);
      case "rich_text_quote": return richInline(el("blockquote", "bk-quote"), part.elements, ctx);
      case "rich_text_list": {
        const list = el(part.style === "ordered" ? "ol" : "ul", "bk-rt-list");
        for (const item of asList(part.elements)) {
          list.append(richInline(el("li"), isObject(item) ? item.elements : [], ctx));
        }
        return list;
      }
      default: return unsupported("element", part.type);
    }
  }

  function richInline(parent, elements, ctx) {
    for (const item of asList(elements)) {
      if (!isObject(item)) continue;
      let node;
      if (item.type === "text") {
        node = document.createTextNode(String(item.text || ""));
      } else if (item.type === "link") {
        const url = safeUrl(String(item.url || ""));
        node = url ? link(url, item.text || url) : document.createTextNode(String(item.text || item.url || ""));
      } else if (item.type === "user") {
        node = el("span", "bk-mention", "@" + (personName(ctx, item.user_id) || item.user_id));
      } else if (item.type === "channel") {
        node = el("span", "bk-mention bk-channel", "#" + (channelName(ctx, item.channel_id) || item.channel_id));
      } else if (item.type === "emoji") {
        node = document.createTextNode(item.unicode
          ? String.fromCodePoint(...String(item.unicode).split("-").map((h) => parseInt(h, 16)))
          : emojify(`:${item.name}:`));
      } else if (item.type === "broadcast") {
        node = el("span", "bk-mention", "@" + item.range);
      } else {
        node = unsupported("element", item.type);
      }
      parent.append(styled(node, item.style));
    }
    return parent;
  }

  function styled(node, style) {
    if (!isObject(style)) return node;
    let out = node;
    for (const [flag, tag] of [["code", "code"], ["strike", "s"], ["italic", "i"], ["bold", "b"]]) {
      if (style[flag]) {
        const wrap = el(tag, tag === "code" ? "bk-code" : null);
        wrap.append(out);
        out = wrap;
      }
    }
    return out;
  }

  const BLOCKS = {
    section: renderSection,
    header: renderHeader,
    divider: () => el("hr", "bk-divider"),
    context: renderContext,
    actions: renderActions,
    image: renderImageBlock,
    input: renderInput,
    rich_text: renderRichText,
  };

  function renderBlock(block, ctx) {
    if (!isObject(block)) return unsupported("block", typeof block);
    const render = BLOCKS[block.type];
    let node;
    if (!render) {
      node = unsupported("block", block.type);
    } else {
      try {
        node = render(block, ctx);
      } catch (error) {
        console.warn("Block Kit block not rendered:", block.type, error);
        node = unsupported("block", block.type);
      }
    }
    node.classList.add("bk-block");
    node.dataset.blockType = String(block.type);
    if (block.block_id) node.dataset.blockId = block.block_id;
    return node;
  }

  function renderBlocks(blocks, ctx) {
    const root = el("div", "bk-blocks");
    if (ctx && ctx.inModal) root.classList.add("bk-in-modal");
    for (const block of asList(blocks)) root.append(renderBlock(block, ctx || {}));
    return root;
  }

  // --- reading inputs back ----------------------------------------------------------------

  function inputBlocks(root) {
    return Array.from(root.querySelectorAll(".bk-block[data-block-type=input]"));
  }

  function controlOf(blockNode) {
    return blockNode.querySelector(":scope > .bk-control");
  }

  // Every input block's value as `state.values`, unset ones as null or [].
  function collectValues(root) {
    const values = {};
    for (const blockNode of inputBlocks(root)) {
      const control = controlOf(blockNode);
      if (!control) continue;
      const read = readers.get(control);
      const value = read ? read() : { type: control.dataset.elementType };
      const blockId = blockNode.dataset.blockId || "";
      values[blockId] = values[blockId] || {};
      values[blockId][control.dataset.actionId || ""] = value;
    }
    return values;
  }

  function isEmpty(value) {
    if (!value) return true;
    for (const key of ["value", "selected_option", "selected_date", "selected_time"]) {
      if (key in value) return value[key] === null || value[key] === "";
    }
    if ("selected_options" in value) return value.selected_options.length === 0;
    return false;
  }

  // Slack's own checks before a submission: {block_id: message}.
  function validate(root) {
    const errors = {};
    for (const blockNode of inputBlocks(root)) {
      const control = controlOf(blockNode);
      if (!control || !readers.has(control)) continue;
      const optional = blockNode.dataset.optional === "true";
      const check = checkers.get(control);
      const problem = !optional && isEmpty(readers.get(control)())
        ? "Please complete this required field." : (check ? check() : null);
      if (problem) errors[blockNode.dataset.blockId || ""] = problem;
    }
    return errors;
  }

  // Shows `errors` ({block_id: message}) under their input blocks, clears the others, and
  // brings the first one into view as Slack does.
  function showErrors(root, errors) {
    let first = null;
    for (const blockNode of inputBlocks(root)) {
      const slot = blockNode.querySelector(":scope > .bk-input-error");
      const message = (errors || {})[blockNode.dataset.blockId || ""];
      slot.textContent = message || "";
      slot.hidden = !message;
      blockNode.classList.toggle("bk-has-error", Boolean(message));
      if (message && !first) first = blockNode;
    }
    if (first) first.scrollIntoView({ block: "nearest" });
  }

  window.BlockKit = {
    renderBlocks,
    renderMrkdwn: (text, ctx) => renderMrkdwn(text, ctx),
    renderText,
    collectValues,
    validate,
    showErrors,
    askConfirm,
    SUPPORTED_BLOCKS,
    SUPPORTED_ELEMENTS,
  };
})();
