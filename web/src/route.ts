// Hash routes (#/update …): they work behind any static server and survive a reload.
import { useEffect, useState } from 'preact/hooks';

export type Route = 'overview' | 'update' | 'settings' | 'support';

export const ROUTES: { route: Route; hash: string; label: string }[] = [
  { route: 'overview', hash: '#/', label: 'Overview' },
  { route: 'update', hash: '#/update', label: 'Software Update' },
  { route: 'settings', hash: '#/settings', label: 'Settings' },
  { route: 'support', hash: '#/support', label: 'Support' },
];

export function routeOf(hash: string): Route {
  const found = ROUTES.find((r) => r.hash === hash && r.route !== 'overview');
  return found ? found.route : 'overview';
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => routeOf(location.hash));
  useEffect(() => {
    const on = () => setRoute(routeOf(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
