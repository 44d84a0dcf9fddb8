// The sandbox page: a Slack-like client for the sandbox's own workspace. It shows what
// GET /sandbox/api/state says for the chosen person, re-reads it whenever the long poll says the
// version moved on, and turns what the person does into the sandbox API's POSTs.
(function () {
  "use strict";

  const API = "/sandbox/api";
  const PERSON_KEY = "slis-sandbox-as";
  const SEEN_KEY = "slis-sandbox-seen:";
  const RETRY_MS = 1500;
  const INFO_NOTICE_MS = 8000;
  const HOME = "home";
  const HOME_WAIT_MS = 4000;
  const MAX_COVERED_MODALS = 3;

  const $ = (selector) => document.querySelector(selector);
  const ui = {
    workspace: $("[data-testid=workspace-name]"),
    clock: $("[data-testid=clock]"),
    jumps: {
      next_school_morning: $("[data-testid=jump-morning]"),
      day: $("[data-testid=jump-day]"),
      hour: $("[data-testid=jump-hour]"),
    },
    reset: $("[data-testid=reset]"),
    picker: $("[data-testid=person-picker]"),
    roles: $("[data-testid=person-roles]"),
    homeTab: $("[data-testid=home-tab]"),
    conversations: $("[data-testid=conversations]"),
    title: $("[data-testid=pane-title]"),
    subtitle: $("[data-testid=pane-subtitle]"),
    prompt: $("[data-testid=pick-prompt]"),
    messages: $("[data-testid=messages]"),
    home: $("[data-testid=home]"),
    composerBox: $("[data-testid=composer-box]"),
    composer: $("[data-testid=composer]"),
    send: $("[data-testid=send]"),
    notices: $("[data-testid=notices]"),
    modalRoot: $("[data-testid=modal-root]"),
  };

  const app = {
    user: "",
    state: null,
    version: -1,
    view: null, // a conversation id, or HOME
    seen: {}, // conversation id -> newest ts the person has looked at
    messageNodes: new Map(), // "conversation|key" -> {sig, node}
    shownTail: "",
    peopleSig: "",
    conversationNodes: new Map(),
    homeSig: "",
    homeAsked: false,
    jumping: false,
    modal: null, // {key, viewId, errorsSig, body, submit, close, backdrop}
    coveredModals: new Map(), // key -> a modal beneath the one shown
    dismissed: new Set(),
    localNotices: [],
    localCount: 0,
    refreshing: null,
    refreshAgain: false,
    sending: false,
  };

  // --- talking to the sandbox ----------------------------------------------------------------

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  // POSTs JSON; an answer that is not JSON becomes {ok: false, error}.
  async function post(path, body) {
    const response = await fetch(API + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    try {
      return await response.json();
    } catch (error) {
      return { ok: false, error: `The sandbox answered HTTP ${response.status}.` };
    }
  }

  // POSTs and reports a failure as a notice; the answer, or null when it could not be sent.
  async function act(path, body, failure) {
    try {
      const answer = await post(path, body);
      if (!answer.ok) notify("error", answer.error || failure);
      return answer;
    } catch (error) {
      notify("error", `${failure} (the sandbox did not answer).`);
      return null;
    } finally {
      refresh().catch(() => {});
    }
  }

  // Fetches the state for the current person and shows it; overlapping calls share one fetch
  // and a call made during it fetches once more afterwards.
  function refresh() {
    if (app.refreshing) {
      app.refreshAgain = true;
      return app.refreshing;
    }
    app.refreshing = (async () => {
      do {
        app.refreshAgain = false;
        const user = app.user;
        const state = await getJSON(`${API}/state?user=${encodeURIComponent(user)}`);
        if (user === app.user) render(state);
        else app.refreshAgain = true;
      } while (app.refreshAgain);
    })().finally(() => { app.refreshing = null; });
    return app.refreshing;
  }

  async function pollForever() {
    for (;;) {
      try {
        const answer = await getJSON(`${API}/updates?since=${app.version}`);
        if (answer.version !== app.version) await refresh();
      } catch (error) {
        await sleep(RETRY_MS);
      }
    }
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // --- the person ----------------------------------------------------------------------------

  function initialPerson() {
    const fromUrl = new URLSearchParams(window.location.search).get("as");
    if (fromUrl) return fromUrl;
    try {
      return window.localStorage.getItem(PERSON_KEY) || "";
    } catch (error) {
      return "";
    }
  }

  function rememberPerson(user) {
    const url = new URL(window.location.href);
    if (user) url.searchParams.set("as", user);
    else url.searchParams.delete("as");
    window.history.replaceState(null, "", url);
    try {
      if (user) window.localStorage.setItem(PERSON_KEY, user);
      else window.localStorage.removeItem(PERSON_KEY);
    } catch (error) {
      // Storage may be off (private windows); the URL still keeps the choice.
    }
  }

  function choosePerson(user) {
    if (user === app.user) return;
    app.user = user;
    app.view = user ? dmOf(user) : null;
    app.seen = loadSeen(user);
    app.messageNodes.clear();
    app.shownTail = "";
    app.homeSig = "";
    closeModalDom();
    rememberPerson(user);
    ui.composer.value = "";
    refresh().catch(() => notify("error", "Could not load the sandbox for that person."));
  }

  function dmOf(user) {
    return "D0" + user;
  }

  function loadSeen(user) {
    try {
      return JSON.parse(window.localStorage.getItem(SEEN_KEY + user) || "null") || null;
    } catch (error) {
      return null;
    }
  }

  function saveSeen() {
    try {
      window.localStorage.setItem(SEEN_KEY + app.user, JSON.stringify(app.seen));
    } catch (error) {
      // Unread dots then last only as long as the page.
    }
  }

  // --- rendering the state -------------------------------------------------------------------

  function render(state) {
    app.state = state;
    app.version = state.version;
    if (app.user && !state.me) {
      app.user = "";
      app.view = null;
      rememberPerson("");
    }
    renderTopbar(state);
    renderPicker(state);
    renderConversations(state);
    renderPane(state);
    renderNotices();
    renderModal(state);
  }

  function renderTopbar(state) {
    const ws = state.workspace || {};
    ui.workspace.textContent = ws.name || "SLIS Bot sandbox";
    document.title = `${ws.name || "Sandbox"} — SLIS Bot sandbox`;
    renderClock(state.clock);
    ui.reset.disabled = !state.may_reset;
    ui.reset.title = state.may_reset
      ? "Restore the sample directory and clear every conversation"
      : "Reset is switched off for this sandbox: it is not using the sample directory only.";
    for (const button of Object.values(ui.jumps)) button.disabled = app.jumping === true;
  }

  function renderClock(clock) {
    if (!clock) return;
    ui.clock.textContent = "";
    ui.clock.append(span("clock-display", clock.display || clock.iso || ""));
    if (clock.ahead) ui.clock.append(span("clock-ahead", clock.ahead));
    ui.clock.title = `${clock.iso || ""} (${clock.zone || ""})`;
  }

  function span(className, text) {
    const node = document.createElement("span");
    node.className = className;
    node.textContent = text;
    return node;
  }

  function renderPicker(state) {
    const people = state.people || [];
    const sig = JSON.stringify(people.map((p) => [p.user_id, p.name, (p.roles || [])[0]]));
    if (sig !== app.peopleSig) {
      app.peopleSig = sig;
      const keep = ui.picker.options[0];
      ui.picker.replaceChildren(keep);
      for (const person of people) {
        const option = document.createElement("option");
        option.value = person.user_id;
        const first = (person.roles || [])[0] || person.job_title;
        option.textContent = first ? `${person.name} — ${first}` : person.name;
        ui.picker.append(option);
      }
    }
    ui.picker.value = app.user;
    renderRoles(state.me);
  }

  function renderRoles(me) {
    ui.roles.replaceChildren();
    if (!me) {
      ui.roles.append(span("person-hint", "Pick someone to act as them."));
      return;
    }
    if (me.job_title) ui.roles.append(span("person-title", me.job_title));
    const list = document.createElement("ul");
    list.className = "person-role-list";
    for (const role of me.roles || []) {
      const item = document.createElement("li");
      item.textContent = role;
      list.append(item);
    }
    if (!(me.roles || []).length) list.append(span("person-hint", "No roles in the directory."));
    ui.roles.append(list);
    if (me.email) ui.roles.append(span("person-email", me.email));
  }

  // --- sidebar -------------------------------------------------------------------------------

  function newestTs(messages) {
    let newest = "";
    for (const message of messages || []) if (tsAfter(message.ts, newest)) newest = message.ts;
    return newest;
  }

  // Slack timestamps are "seconds.micros" strings; compared as numbers part by part.
  function tsAfter(a, b) {
    if (!b) return Boolean(a);
    if (!a) return false;
    const [as, af = ""] = String(a).split(".");
    const [bs, bf = ""] = String(b).split(".");
    if (Number(as) !== Number(bs)) return Number(as) > Number(bs);
    return af.padEnd(6, "0") > bf.padEnd(6, "0");
  }

  function updateSeen(state) {
    const conversations = state.conversations || [];
    const first = app.seen === null;
    if (first) app.seen = {};
    for (const conversation of conversations) {
      const newest = newestTs((state.messages || {})[conversation.id]);
      const seen = app.seen[conversation.id];
      // Looking at it, meeting it for the first time, or its messages were wiped (a reset).
      if (conversation.id === app.view || first || seen === undefined || tsAfter(seen, newest)) {
        app.seen[conversation.id] = newest;
      }
    }
    saveSeen();
  }

  function renderConversations(state) {
    const conversations = app.user ? state.conversations || [] : [];
    if (app.user) {
      const ids = conversations.map((c) => c.id);
      if (app.view !== HOME && !ids.includes(app.view)) app.view = ids[0] || null;
      updateSeen(state);
    }
    const keep = new Map();
    const nodes = conversations.map((conversation) => {
      const item = app.conversationNodes.get(conversation.id) || conversationItem(conversation);
      keep.set(conversation.id, item);
      const button = item.firstChild;
      const newest = newestTs((state.messages || {})[conversation.id]);
      const unread = tsAfter(newest, app.seen[conversation.id] || "");
      button.classList.toggle("is-active", app.view === conversation.id);
      button.classList.toggle("is-unread", unread);
      button.setAttribute("aria-current", app.view === conversation.id ? "page" : "false");
      button.querySelector(".nav-name").textContent = conversation.name;
      button.querySelector(".unread-dot").hidden = !unread;
      button.setAttribute("aria-label", conversationLabel(conversation) + (unread ? ", new messages" : ""));
      return item;
    });
    app.conversationNodes = keep;
    reconcile(ui.conversations, nodes);
    ui.homeTab.classList.toggle("is-active", app.view === HOME);
    ui.homeTab.disabled = !app.user;
  }

  function conversationItem(conversation) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "nav-item";
    button.dataset.testid = "conversation";
    button.dataset.id = conversation.id;
    button.dataset.kind = conversation.kind;
    const icon = span("nav-icon", conversation.kind === "channel" ? "#" : "●");
    icon.setAttribute("aria-hidden", "true");
    if (conversation.kind !== "channel") icon.classList.add("nav-icon-dm");
    const dot = span("unread-dot", "");
    dot.hidden = true;
    button.append(icon, span("nav-name", conversation.name), dot);
    button.addEventListener("click", () => openConversation(conversation.id));
    item.append(button);
    return item;
  }

  function conversationLabel(conversation) {
    return conversation.kind === "channel" ? `Channel ${conversation.name}` : `Direct message with ${conversation.name}`;
  }

  function openConversation(id) {
    app.view = id;
    app.shownTail = "";
    if (app.state) {
      renderConversations(app.state);
      renderPane(app.state);
    }
    ui.composer.focus();
  }

  function openHome() {
    if (!app.user) return;
    app.view = HOME;
    if (app.state) {
      renderConversations(app.state);
      renderPane(app.state);
    }
    app.homeAsked = false;
    act("/home", { user: app.user }, "Could not open the Home tab");
    // The bot publishes the tab after acknowledging the event, so give it a moment before
    // saying there is none.
    setTimeout(() => {
      app.homeAsked = true;
      app.homeSig = "";
      if (app.state && app.view === HOME) renderPane(app.state);
    }, HOME_WAIT_MS);
  }

  // Puts `nodes` in `parent` in order, moving only what is out of place, so focus and input
  // in unchanged nodes survive.
  function reconcile(parent, nodes) {
    nodes.forEach((node, index) => {
      if (parent.children[index] !== node) parent.insertBefore(node, parent.children[index] || null);
    });
    while (parent.children.length > nodes.length) parent.lastElementChild.remove();
  }

  // --- the pane ------------------------------------------------------------------------------

  function conversationOf(state, id) {
    return (state.conversations || []).find((c) => c.id === id) || null;
  }

  function renderPane(state) {
    const picked = Boolean(app.user && state.me);
    ui.prompt.hidden = picked;
    const onHome = picked && app.view === HOME;
    ui.messages.hidden = !picked || onHome;
    ui.home.hidden = !onHome;
    ui.composerBox.hidden = onHome;
    ui.composer.disabled = !picked;
    ui.send.disabled = !picked || app.sending;
    if (!picked) {
      ui.title.textContent = "Welcome to the sandbox";
      ui.subtitle.textContent = "";
      ui.messages.replaceChildren();
      app.messageNodes.clear();
      return;
    }
    if (onHome) {
      ui.title.textContent = (state.workspace || {}).bot_name || "SLIS Bot";
      ui.subtitle.textContent = "Home";
      renderHome(state);
      return;
    }
    const conversation = conversationOf(state, app.view);
    const name = conversation ? conversation.name : "";
    const channel = conversation && conversation.kind === "channel";
    ui.title.textContent = channel ? `# ${name}` : name;
    ui.subtitle.textContent = channel ? "Channel" : "Direct message";
    ui.composer.placeholder = channel
      ? `Message #${name} — try /slis help`
      : `Message ${name || "SLIS Bot"} — try /slis help`;
    ui.composer.setAttribute("aria-label", channel ? `Message #${name}` : `Message ${name}`);
    renderMessages(state);
  }

  function blockContext(state, onAction, inModal) {
    const ws = state.workspace || {};
    return {
      people: state.people || [],
      channels: state.conversations || [],
      botUserId: ws.bot_user_id,
      botName: ws.bot_name,
      inModal,
      onAction,
    };
  }

  function renderHome(state) {
    const home = state.home;
    const sig = JSON.stringify(home);
    if (sig === app.homeSig) return;
    app.homeSig = sig;
    if (!home) {
      const empty = span("home-empty", app.homeAsked
        ? "SLIS Bot has not published a Home tab for you yet."
        : "Opening the Home tab…");
      ui.home.replaceChildren(empty);
      return;
    }
    const onAction = (action) => {
      const values = BlockKit.collectValues(ui.home);
      return act("/action", {
        user: app.user,
        container: { type: "view", view_id: home.id || "" },
        action,
        state: { values },
      }, "The bot did not take that action");
    };
    ui.home.replaceChildren(BlockKit.renderBlocks(home.blocks, blockContext(state, onAction, false)));
  }

  // Messages in the order shown: each thread's replies right after their parent.
  function threadOrder(messages) {
    const present = new Set(messages.map((m) => m.ts));
    const top = [];
    const replies = new Map();
    for (const message of messages) {
      const reply = message.thread_ts && message.thread_ts !== message.ts;
      if (reply && present.has(message.thread_ts)) {
        if (!replies.has(message.thread_ts)) replies.set(message.thread_ts, []);
        replies.get(message.thread_ts).push(message);
      } else {
        top.push(message);
      }
    }
    const ordered = [];
    for (const message of top) {
      ordered.push({ message, reply: false });
      for (const child of replies.get(message.ts) || []) ordered.push({ message: child, reply: true });
    }
    return ordered;
  }

  function renderMessages(state) {
    const conversation = app.view;
    const messages = (state.messages || {})[conversation] || [];
    const cache = new Map();
    const nodes = [];
    const reuse = (key, sig, make) => {
      const cacheKey = `${conversation}|${key}`;
      const cached = app.messageNodes.get(cacheKey);
      const node = cached && cached.sig === sig ? cached.node : make();
      cache.set(cacheKey, { sig, node });
      nodes.push(node);
    };
    if (!messages.length) {
      reuse("empty", "", () => emptyConversation(conversationOf(state, conversation)));
    }
    let lastDate = null;
    for (const { message, reply } of threadOrder(messages)) {
      if (!reply && message.date && message.date !== lastDate) {
        lastDate = message.date;
        reuse(`date:${message.date}`, message.date, () => dateDivider(message.date));
      }
      const sig = JSON.stringify(message) + (reply ? "|reply" : "");
      reuse(message.ts, sig, () => messageNode(state, message, reply));
    }
    app.messageNodes = cache;
    reconcile(ui.messages, nodes);
    const tail = `${conversation}|${messages.length}|${newestTs(messages)}`;
    if (tail !== app.shownTail) {
      app.shownTail = tail;
      scrollToBottom();
    }
  }

  function scrollToBottom() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function emptyConversation(conversation) {
    const node = document.createElement("div");
    node.className = "empty-conversation";
    const channel = conversation && conversation.kind === "channel";
    node.textContent = channel
      ? `This is the very beginning of #${conversation.name}.`
      : "This is the very beginning of your direct messages with SLIS Bot. Try /slis help.";
    return node;
  }

  function dateDivider(date) {
    const node = document.createElement("div");
    node.className = "date-divider";
    node.setAttribute("role", "separator");
    node.append(span("date-divider-label", date));
    return node;
  }

  function initials(name) {
    const words = String(name || "?").split(/\s+/).filter(Boolean);
    return ((words[0] || "?")[0] + ((words[1] || "")[0] || "")).toUpperCase();
  }

  function avatar(message) {
    const node = span("avatar", message.is_bot ? "S" : initials(message.author));
    node.setAttribute("aria-hidden", "true");
    if (message.is_bot) node.classList.add("avatar-bot");
    else node.style.setProperty("--hue", String(hue(message.user)));
    return node;
  }

  function hue(text) {
    let h = 0;
    for (const ch of String(text || "")) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function messageNode(state, message, reply) {
    const node = document.createElement("article");
    node.className = "message";
    node.dataset.testid = "message";
    node.dataset.ts = message.ts;
    node.classList.toggle("is-reply", reply);
    node.classList.toggle("is-ephemeral", Boolean(message.ephemeral));
    if (message.ephemeral) {
      node.append(span("ephemeral-note", "Only visible to you"));
    }
    const row = document.createElement("div");
    row.className = "message-row";
    const body = document.createElement("div");
    body.className = "message-body";
    const meta = document.createElement("div");
    meta.className = "message-meta";
    meta.append(span("message-author", message.author || message.user || ""));
    if (message.is_bot) meta.append(span("app-badge", "APP"));
    const time = document.createElement("time");
    time.className = "message-time";
    time.textContent = message.time || "";
    time.title = [message.date, message.time].filter(Boolean).join(", ");
    meta.append(time);
    if (message.thread_ts && message.thread_ts !== message.ts && !reply) {
      meta.append(span("thread-note", "replied to a thread"));
    }
    body.append(meta, messageContent(state, message));
    const files = (message.files || []).map(fileNode).filter(Boolean);
    if (files.length) {
      const list = document.createElement("div");
      list.className = "message-files";
      list.append(...files);
      body.append(list);
    }
    if (message.edited) body.append(span("edited", "(edited)"));
    row.append(avatar(message), body);
    node.append(row);
    return node;
  }

  function messageContent(state, message) {
    const onAction = (action) => act("/action", {
      user: app.user,
      container: { type: "message", channel: message.channel, ts: message.ts },
      action,
    }, "The bot did not take that action");
    const ctx = blockContext(state, onAction, false);
    const content = Array.isArray(message.blocks) && message.blocks.length
      ? BlockKit.renderBlocks(message.blocks, ctx)
      : BlockKit.renderMrkdwn(message.text || "", ctx);
    content.classList.add("message-content");
    return content;
  }

  function fileUrl(url) {
    const text = String(url || "");
    return /^\/(?!\/)/.test(text) || /^https?:/i.test(text) ? text : null;
  }

  function fileNode(file) {
    const url = fileUrl(file.url);
    if (!url) return null;
    const label = file.title || file.name || "file";
    if (file.is_image) {
      const link = document.createElement("a");
      link.className = "file-image";
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      const img = document.createElement("img");
      img.src = url;
      img.alt = label;
      // An image in the newest message grows the list after it was scrolled to its end.
      img.addEventListener("load", () => {
        if (img.closest(".message") === ui.messages.lastElementChild) scrollToBottom();
      });
      link.append(img);
      return link;
    }
    const link = document.createElement("a");
    link.className = "file-card";
    link.href = url;
    link.download = file.name || "";
    const extension = /\.([a-z0-9]{1,4})$/i.exec(file.name || "");
    const icon = span("file-icon", extension ? extension[1].toUpperCase() : "FILE");
    icon.setAttribute("aria-hidden", "true");
    const words = span("file-words", "");
    words.append(span("file-name", file.name || label), span("file-size", fileSize(file.size, file.mimetype)));
    link.append(icon, words);
    link.setAttribute("aria-label", `Download ${file.name || label}`);
    return link;
  }

  function fileSize(size, mimetype) {
    const bytes = Number(size);
    let text = "";
    if (Number.isFinite(bytes) && bytes >= 0) {
      if (bytes < 1024) text = `${bytes} B`;
      else if (bytes < 1024 * 1024) text = `${(bytes / 1024).toFixed(1)} KB`;
      else text = `${(bytes / 1024 / 1024).toFixed(1)} MB`;
    }
    return [text, mimetype].filter(Boolean).join(" · ");
  }

  // --- composer ------------------------------------------------------------------------------

  async function sendComposer() {
    const text = ui.composer.value;
    if (!text.trim() || !app.user || app.sending || !app.view || app.view === HOME) return;
    app.sending = true;
    ui.send.disabled = true;
    try {
      const answer = await act("/say", { user: app.user, channel: app.view, text },
        "Your message was not sent");
      if (answer && answer.ok && ui.composer.value === text) {
        ui.composer.value = "";
        fitComposer();
      }
    } finally {
      app.sending = false;
      ui.send.disabled = !app.user;
    }
  }

  function fitComposer() {
    ui.composer.style.height = "auto";
    ui.composer.style.height = `${Math.min(ui.composer.scrollHeight, 200)}px`;
  }

  // --- notices -------------------------------------------------------------------------------

  function notify(level, text) {
    app.localCount += 1;
    app.localNotices.push({ id: `local-${app.localCount}`, level, text });
    app.localNotices = app.localNotices.slice(-5);
    renderNotices();
  }

  function renderNotices() {
    const fromState = (app.state && app.user && app.state.notices) || [];
    const all = [...fromState.map((n) => ({ ...n, id: `state-${n.id}` })), ...app.localNotices]
      .filter((n) => !app.dismissed.has(n.id));
    const existing = new Map(Array.from(ui.notices.children).map((node) => [node.dataset.id, node]));
    const nodes = all.map((notice) => existing.get(notice.id) || toast(notice));
    reconcile(ui.notices, nodes);
  }

  function toast(notice) {
    const node = document.createElement("div");
    node.className = `toast toast-${notice.level === "error" ? "error" : "info"}`;
    node.dataset.testid = "notice";
    node.dataset.id = notice.id;
    node.dataset.level = notice.level;
    node.setAttribute("role", notice.level === "error" ? "alert" : "status");
    node.append(span("toast-text", notice.text || ""));
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.textContent = "×";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", () => dismiss(notice.id));
    node.append(close);
    if (notice.level !== "error") setTimeout(() => dismiss(notice.id), INFO_NOTICE_MS);
    return node;
  }

  function dismiss(id) {
    app.dismissed.add(id);
    renderNotices();
  }

  // --- modal ---------------------------------------------------------------------------------

  function renderModal(state) {
    const modal = app.user ? state.modal : null;
    if (!modal || !modal.view) {
      closeModalDom();
      return;
    }
    const key = `${modal.id}|${JSON.stringify(modal.view)}|${modal.depth}`;
    // The same view still shown: keep what the person has typed into it.
    if (!app.modal || app.modal.key !== key) {
      const covered = app.modal;
      const focusWasInside = ui.modalRoot.contains(document.activeElement);
      const stashed = app.coveredModals.get(key);
      app.coveredModals.delete(key);
      showModal(stashed || buildModal(state, modal, key));
      // A view pushed on top of another: the one beneath comes back as it was left.
      if (covered && covered.viewId !== modal.id) stashModal(covered);
      const sameView = Boolean(covered && covered.viewId === modal.id);
      if (!sameView || focusWasInside || document.activeElement === document.body) {
        const first = app.modal.body.querySelector("input, select, textarea, button") || app.modal.close;
        first.focus();
      }
    }
    const errorsSig = JSON.stringify(modal.errors || {});
    if (errorsSig !== app.modal.errorsSig) {
      app.modal.errorsSig = errorsSig;
      BlockKit.showErrors(app.modal.body, modal.errors || {});
    }
  }

  function showModal(shown) {
    app.modal = shown;
    ui.modalRoot.replaceChildren(shown.backdrop);
    document.body.classList.add("has-modal");
  }

  function stashModal(covered) {
    app.coveredModals.set(covered.key, covered);
    while (app.coveredModals.size > MAX_COVERED_MODALS) {
      app.coveredModals.delete(app.coveredModals.keys().next().value);
    }
  }

  function closeModalDom() {
    app.coveredModals.clear();
    if (!app.modal) return;
    app.modal = null;
    ui.modalRoot.replaceChildren();
    document.body.classList.remove("has-modal");
  }

  function button(className, text, testid) {
    const node = document.createElement("button");
    node.type = "button";
    node.className = className;
    node.textContent = text;
    if (testid) node.dataset.testid = testid;
    return node;
  }

  function buildModal(state, modal, key) {
    const view = modal.view;
    const plain = (obj, fallback) => (obj && obj.text) || fallback;
    const backdrop = document.createElement("div");
    backdrop.className = "modal-backdrop";
    const dialog = document.createElement("div");
    dialog.className = "modal";
    dialog.dataset.testid = "modal";
    dialog.dataset.viewId = modal.id;
    // Which version of the view is shown: a redraw (views.update) changes it.
    dialog.dataset.viewHash = String(view.hash || "");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-labelledby", "modal-title");

    const header = document.createElement("header");
    header.className = "modal-header";
    if (modal.depth > 1) {
      const back = button("modal-back", "‹", "modal-back");
      back.setAttribute("aria-label", "Back");
      back.addEventListener("click", () => closeModal(modal.id, false));
      header.append(back);
    }
    const title = document.createElement("h2");
    title.id = "modal-title";
    title.className = "modal-title";
    title.textContent = plain(view.title, "");
    const dismissAll = button("modal-x", "×", "modal-dismiss");
    dismissAll.setAttribute("aria-label", "Close");
    dismissAll.addEventListener("click", () => closeModal(modal.id, true));
    header.append(title, dismissAll);

    const form = document.createElement("form");
    form.className = "modal-body";
    form.noValidate = true;
    const onAction = (action) => act("/action", {
      user: app.user,
      container: { type: "view", view_id: modal.id },
      action,
      state: { values: BlockKit.collectValues(form) },
    }, "The bot did not take that action");
    form.append(BlockKit.renderBlocks(view.blocks, blockContext(state, onAction, true)));

    const footer = document.createElement("footer");
    footer.className = "modal-footer";
    const close = button("bk-button", plain(view.close, "Cancel"), "modal-close");
    close.addEventListener("click", () => closeModal(modal.id, false));
    footer.append(close);
    let submit = null;
    if (view.submit) {
      submit = button("bk-button bk-primary", plain(view.submit, "Submit"), "modal-submit");
      submit.type = "submit";
      form.id = "modal-form";
      submit.setAttribute("form", "modal-form");
      footer.append(submit);
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (submit) submitModal();
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !document.querySelector(".bk-confirm")) {
        event.preventDefault();
        closeModal(modal.id, false);
      }
    });

    dialog.append(header, form, footer);
    backdrop.append(dialog);
    return { key, viewId: modal.id, errorsSig: "{}", body: form, submit, close, backdrop };
  }

  async function submitModal() {
    const current = app.modal;
    if (!current || !current.submit) return;
    const form = current.body;
    const problems = BlockKit.validate(form);
    BlockKit.showErrors(form, problems);
    if (Object.keys(problems).length) {
      const first = form.querySelector(".bk-has-error input, .bk-has-error select, .bk-has-error textarea");
      if (first) first.focus();
      return;
    }
    current.submit.disabled = true;
    try {
      const answer = await act("/submit", {
        user: app.user,
        view_id: current.viewId,
        values: BlockKit.collectValues(form),
      }, "The form was not sent");
      if (answer && answer.ok && answer.errors && app.modal === current) {
        BlockKit.showErrors(form, answer.errors);
      }
    } finally {
      current.submit.disabled = false;
    }
  }

  function closeModal(viewId, all) {
    act("/close", { user: app.user, view_id: viewId, all }, "The form did not close");
  }

  // --- top bar controls ----------------------------------------------------------------------

  async function jump(kind) {
    app.jumping = true;
    for (const node of Object.values(ui.jumps)) node.disabled = true;
    try {
      const answer = await act("/clock", { jump: kind }, "The clock did not move");
      if (answer && answer.ok && answer.clock) renderClock(answer.clock);
    } finally {
      app.jumping = false;
      for (const node of Object.values(ui.jumps)) node.disabled = false;
    }
  }

  async function resetSandbox() {
    const yes = await BlockKit.askConfirm({
      testid: "reset-dialog",
      confirmTestid: "reset-confirm",
      denyTestid: "reset-cancel",
      title: "Reset the sandbox?",
      body: "This restores the sample directory and calendar and clears every conversation, "
        + "Home tab and form. The clock goes back to real time.",
      confirm: "Reset",
      deny: "Cancel",
      style: "danger",
    });
    if (!yes) return;
    ui.reset.disabled = true;
    const answer = await act("/reset", {}, "The sandbox was not reset");
    if (answer && answer.ok) {
      app.seen = {};
      app.dismissed.clear();
      app.messageNodes.clear();
      app.homeSig = "";
      if (app.user) app.view = dmOf(app.user);
      closeModalDom();
      notify("info", "The sandbox was reset: sample directory restored, conversations cleared.");
    }
    ui.reset.disabled = !(app.state && app.state.may_reset);
  }

  // --- wiring --------------------------------------------------------------------------------

  function wire() {
    ui.picker.addEventListener("change", () => choosePerson(ui.picker.value));
    ui.homeTab.addEventListener("click", openHome);
    ui.composerBox.addEventListener("submit", (event) => {
      event.preventDefault();
      sendComposer();
    });
    ui.composer.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendComposer();
      }
    });
    ui.composer.addEventListener("input", fitComposer);
    for (const [kind, node] of Object.entries(ui.jumps)) node.addEventListener("click", () => jump(kind));
    ui.reset.addEventListener("click", resetSandbox);
  }

  async function start() {
    wire();
    app.user = initialPerson();
    app.view = app.user ? dmOf(app.user) : null;
    app.seen = app.user ? loadSeen(app.user) : null;
    if (app.user) rememberPerson(app.user);
    for (;;) {
      try {
        await refresh();
        break;
      } catch (error) {
        notify("error", "Cannot reach the sandbox yet; trying again…");
        await sleep(RETRY_MS * 2);
      }
    }
    pollForever();
  }

  start();
})();
