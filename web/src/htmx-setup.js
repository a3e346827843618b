// htmx with the settings our Content-Security-Policy needs: no eval (no
// hx-on, no js: expressions) and no injected indicator styles.
import htmx from "htmx.org";

htmx.config.allowEval = false;
htmx.config.allowScriptTags = false;
htmx.config.includeIndicatorStyles = false;
htmx.config.selfRequestsOnly = true;
htmx.config.historyCacheSize = 0;
window.htmx = htmx;

export default htmx;
