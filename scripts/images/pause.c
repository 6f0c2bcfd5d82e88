// The pod sandbox ("pause") process of the local e2e images
// (scripts/images/build.sh builds it statically into an image FROM scratch).
// It holds the pod's namespaces open: it waits, doing nothing, until SIGINT or
// SIGTERM, then exits 0. As PID 1 of a pod sharing its PID namespace it also
// reaps every orphaned child, so no zombie outlives its parent.
//
//   pause [-v]
//
// The signals are blocked and taken synchronously with sigwaitinfo, so no
// handler runs at an arbitrary point and no signal is lost between checks.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAUSE_VERSION "pricing-e2e pause 3.10"

// Reaps every child that has exited, without blocking.
static void reap(void) {
  for (;;) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    return;  // 0: children left, none exited; -1/ECHILD: no child at all
  }
}

int main(int argc, char **argv) {
  if (argc > 1) {
    if (argc == 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
      printf("%s\n", PAUSE_VERSION);
      return 0;
    }
    fprintf(stderr, "usage: %s [-v]\n", argv[0]);
    return 2;
  }
  if (getpid() != 1) fprintf(stderr, "pause: warning: not PID 1, so orphans are not ours to reap\n");

  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGINT);
  sigaddset(&wanted, SIGTERM);
  sigaddset(&wanted, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &wanted, NULL) != 0) {
    perror("pause: sigprocmask");
    return 1;
  }
  reap();  // children inherited before the mask was set

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&wanted, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      perror("pause: sigwaitinfo");
      return 1;
    }
    if (sig == SIGCHLD) {
      reap();
      continue;
    }
    fprintf(stderr, "pause: shutting down, got signal %d\n", sig);
    return 0;
  }
}
